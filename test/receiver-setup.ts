import type { TestProject } from "vitest/node";
import { startReceiver, startResolver } from "./support/receiver";

/**
 * Starts one real receiver and one fake DNS-over-HTTPS resolver on 127.0.0.1 for the workerd tests; they reach
 * them by `inject("receiverUrl")` and `inject("resolverUrl")`.
 */
export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  const resolver = await startResolver();
  project.provide("receiverUrl", receiver.url);
  project.provide("resolverUrl", resolver.url);
  return async () => {
    await receiver.close();
    await resolver.close();
  };
}

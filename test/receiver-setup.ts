import type { TestProject } from "vitest/node";
import { startReceiver } from "./support/receiver";

/** Starts one real receiver on 127.0.0.1 for the workerd tests; they reach it by `inject("receiverUrl")`. */
export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  project.provide("receiverUrl", receiver.url);
  return () => receiver.close();
}

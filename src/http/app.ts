import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import { dashboardRoutes } from "../dashboard/routes";
import { accounts } from "./accounts";
import type { AppEnv } from "./app-env";
import { requireAccount, requirePlatform } from "./auth";
import { deliveries } from "./deliveries";
import { docsPage } from "./docs";
import { events } from "./events";
import { onError, problemResponse, validationProblem } from "./problem";
import { redelivery } from "./redelivery";
import { relays } from "./relays";
import { stats } from "./stats";
import { webhookActions } from "./webhook-actions";
import { webhooks } from "./webhooks";

export const MAX_BODY_BYTES = 256 * 1024;

const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "BroxiAI Webhooks",
    version: "0.1.0",
    description: "Real-time, signed, ordered, retried webhooks for BroxiAI workflow events. Errors are RFC 9457 application/problem+json.",
  },
};

/** Builds the Worker's HTTP application: edge checks, then the routes, then one error handler. */
export function buildApp() {
  const app = new OpenAPIHono<AppEnv>({
    // Every validation failure, wherever it comes from, is a 422 problem naming the fields.
    defaultHook: (result) => {
      if (!result.success) {
        throw validationProblem(result.error.issues);
      }
    },
  });

  app.use(
    "*",
    secureHeaders({
      crossOriginResourcePolicy: false,
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        scriptSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", "data:"],
        frameAncestors: ["'none'"],
      },
    }),
  );
  // Every route, the dashboard's forms included: a handler that reads a body (parseBody, json) reads at most this.
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => problemResponse(413, `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB.`),
    }),
  );

  // Who may call what is decided here, by path, before any route runs.
  const platform = requirePlatform();
  const account = requireAccount();
  app.use("/v1/accounts", platform);
  app.use("/v1/accounts/*", platform);
  app.on("POST", ["/v1/events", "/v1/events/batch"], platform);
  app.on("GET", ["/v1/events", "/v1/events/*"], account);
  app.use("/v1/webhooks", account);
  app.use("/v1/webhooks/*", account);
  app.use("/v1/deliveries", account);
  app.use("/v1/deliveries/*", account);
  app.use("/v1/relays", account);
  app.use("/v1/relays/*", account);

  app.route("/", accounts);
  app.route("/", events);
  app.route("/", webhooks);
  app.route("/", webhookActions);
  app.route("/", deliveries);
  app.route("/", redelivery);
  app.route("/", stats);
  app.route("/", relays);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "The platform token, or an account API key (bxk_…)",
  });
  app.doc31("/openapi.json", OPENAPI_INFO);
  app.get("/docs", (c) => c.html(docsPage(app.getOpenAPI31Document(OPENAPI_INFO) as unknown as Parameters<typeof docsPage>[0])));
  app.route(
    "/",
    dashboardRoutes((req, env, ctx) => app.fetch(req, env, ctx)),
  );

  app.notFound((c) => problemResponse(404, `No route ${c.req.method} ${c.req.path}. See /docs for the API.`));
  app.onError(onError);
  return app;
}

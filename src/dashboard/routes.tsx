import { Hono } from "hono";
import type { AppEnv } from "../http/app-env";

/** The dashboard (Settings → Webhooks). */
export const dashboard = new Hono<AppEnv>();
dashboard.get("/", (c) => c.html("<!doctype html><title>BroxiAI Webhooks</title><h1>BroxiAI Webhooks</h1>"));

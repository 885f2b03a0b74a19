import { Hono } from "hono";
import { DurableObject } from "cloudflare:workers";
export class WebhookQueue extends DurableObject {}
const app = new Hono();
app.get("/", (c) => c.text("hi"));
export default app;

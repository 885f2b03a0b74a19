import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { config } from "../config";
import { newId } from "../ids";
import { ipRuleError } from "../ip-rules";
import { closeRelaysOpenedWith } from "../relay/stub";
import { shardFor } from "../shards";
import { randomToken, sha256Hex } from "../signing";
import type { AppEnv } from "./app-env";
import { iso } from "./delivery-rows";
import { bearer, errors, IdParam, json } from "./openapi";
import { invalid, notFound } from "./problem";

const AccountSchema = z.object({ id: z.string(), name: z.string(), created_at: z.string() }).openapi("Account");
const ApiKeySchema = z
  .object({ id: z.string(), name: z.string(), allowed_ips: z.array(z.string()), created_at: z.string(), last_used_at: z.string().nullable() })
  .openapi("ApiKey");

/** Accounts and their API keys: the platform's routes. */
export const accounts = new OpenAPIHono<AppEnv>();

accounts.openapi(
  createRoute({
    method: "post",
    path: "/v1/accounts",
    tags: ["Accounts"],
    summary: "Create an account",
    security: bearer,
    request: { body: { required: true, ...json(z.object({ name: z.string().trim().min(1).max(200) }).strict()) } },
    responses: { 201: json(AccountSchema, "The account"), 401: errors[401], 403: errors[403], 422: errors[422] },
  }),
  async (c) => {
    const { name } = c.req.valid("json");
    const now = Date.now();
    const id = newId("acc", now);
    // Its log's shard is chosen now and kept: raising LOG_SHARDS later spreads new accounts and moves no one.
    await c.env.DB.prepare("INSERT INTO accounts (id, name, created_at, log_shard) VALUES (?, ?, ?, ?)")
      .bind(id, name, now, shardFor(id, config(c.env).LOG_SHARDS))
      .run();
    return c.json({ id, name, created_at: iso(now)! }, 201);
  },
);

accounts.openapi(
  createRoute({
    method: "post",
    path: "/v1/accounts/{account_id}/api-keys",
    tags: ["Accounts"],
    summary: "Create an API key (shown once)",
    security: bearer,
    request: {
      params: IdParam("account_id", "acc_01JD3S4K2M0000000000000000"),
      body: {
        required: true,
        ...json(
          z
            .object({
              name: z.string().trim().min(1).max(200),
              allowed_ips: z
                .array(z.string().max(64))
                .max(100)
                .optional()
                .openapi({ description: "IPs and CIDRs (IPv4, IPv6); empty or absent = any address", example: ["203.0.113.0/24", "2001:db8::/32"] }),
            })
            .strict(),
        ),
      },
    },
    responses: {
      201: json(ApiKeySchema.extend({ key: z.string() }), "The key; `key` is shown only here"),
      401: errors[401],
      404: errors[404],
      422: errors[422],
    },
  }),
  async (c) => {
    const { account_id } = c.req.valid("param");
    const { name, allowed_ips = [] } = c.req.valid("json");
    allowed_ips.forEach((rule, i) => {
      const err = ipRuleError(rule);
      if (err) throw invalid(`allowed_ips.${i}`, err);
    });
    const account = await c.env.DB.prepare("SELECT id FROM accounts WHERE id = ?").bind(account_id).first();
    if (!account) throw notFound("account", account_id);
    const now = Date.now();
    const id = newId("key", now);
    const key = randomToken("bxk_", 32);
    await c.env.DB.prepare("INSERT INTO api_keys (id, account_id, name, key_hash, allowed_ips, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(id, account_id, name, await sha256Hex(key), JSON.stringify(allowed_ips), now)
      .run();
    return c.json({ id, name, allowed_ips, created_at: iso(now)!, last_used_at: null, key }, 201);
  },
);

accounts.openapi(
  createRoute({
    method: "delete",
    path: "/v1/accounts/{account_id}/api-keys/{key_id}",
    tags: ["Accounts"],
    summary: "Revoke an API key (refused at once from then on)",
    security: bearer,
    request: { params: IdParam("account_id", "acc_…").merge(IdParam("key_id", "key_…")) },
    responses: { 204: { description: "Revoked" }, 401: errors[401], 404: errors[404] },
  }),
  async (c) => {
    const { account_id, key_id } = c.req.valid("param");
    const result = await c.env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL")
      .bind(Date.now(), key_id, account_id)
      .run();
    if (result.meta.changes === 0) throw notFound("API key", key_id);
    await closeRelaysOpenedWith(c.env, account_id, key_id);
    return c.body(null, 204);
  },
);

export interface Env { DB: D1Database; WEBHOOK_QUEUE: DurableObjectNamespace; PLATFORM_TOKEN: string; ENCRYPTION_KEY: string }

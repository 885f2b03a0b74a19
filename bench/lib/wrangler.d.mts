// Types of wrangler.mjs for the TypeScript that imports it (test/support/dev-server.ts).

export declare const ROOT: string;
export declare const WRANGLER: string;
export declare const QUIET_ENV: NodeJS.ProcessEnv;

export declare function killAll(): void;
export declare function freePort(): Promise<number>;

export interface LaunchOptions {
  command: string;
  args?: string[];
  port: number;
  persistDir: string;
  vars?: Record<string, string>;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  readyPath?: string;
  timeoutMs?: number;
  maxOutput?: number;
  onOutput?: (chunk: string) => void;
  name?: string;
}

export interface Launched {
  url: string;
  port: number;
  pid: number;
  output(): string;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  running(): boolean;
}

export declare function launchDev(options: LaunchOptions): Promise<Launched>;

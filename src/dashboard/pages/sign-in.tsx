import { Flash, Layout } from "../layout";
import { NoticeBox } from "./parts";
import type { Notice } from "./types";

/** The sign-in page: one field, the account API key. */
export function SignInPage(props: { error?: string | null; notice?: Notice; next?: string }) {
  return (
    <Layout title="Sign in">
      <h1>Sign in to Webhooks</h1>
      <NoticeBox notice={props.notice ?? null} />
      {props.error ? <Flash kind="error">{props.error}</Flash> : null}
      <p>Manage the webhooks that tell your systems, in real time, what happens in your BroxiAI workflows.</p>
      <form method="post" action="/sign-in">
        {props.next && props.next !== "/" ? <input type="hidden" name="next" value={props.next} /> : null}
        <div class="field">
          <label for="key">Account API key</label>
          <span class="hint" id="key-hint">
            Starts with <code>bxk_</code>. Your BroxiAI administrator creates keys; the key's IP allowlist applies here too.
          </span>
          <input
            id="key"
            name="key"
            type="password"
            autocomplete="off"
            spellcheck={false}
            required
            aria-describedby={props.error ? "key-hint key-error" : "key-hint"}
            aria-invalid={props.error ? "true" : undefined}
          />
          {props.error ? (
            <p class="field-error" id="key-error">
              {props.error}
            </p>
          ) : null}
        </div>
        <button type="submit">Sign in</button>
      </form>
      <p class="small muted">You stay signed in for 12 hours on this browser, or until you sign out or the key is revoked.</p>
    </Layout>
  );
}

import type { Child } from "hono/jsx";
import { Flash, Layout } from "../layout";
import type { PageCtx } from "./types";

/** A page for a problem the person can do something about (or at least read). */
export function ErrorPage(props: { title: string; children: Child; signedIn?: PageCtx }) {
  return (
    <Layout title={props.title} signedIn={props.signedIn}>
      <h1>{props.title}</h1>
      <Flash kind="error">{props.children}</Flash>
      <p>
        <a href="/">Back to webhooks</a>
      </p>
    </Layout>
  );
}

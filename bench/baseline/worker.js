// The baseline: the least a Worker can do to get a request to the receiver in this runtime. No storage, no
// signing, no retries, no parsing. `?async` answers 202 at once and forwards in waitUntil (the shape of the
// service: accept, then deliver); without it the Worker answers once the receiver has answered.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    // The runtime's own floor (no outbound request at all), for diagnosis.
    if (url.searchParams.has("noop")) return new Response(null, { status: 202 });
    const init = {
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": request.headers.get("webhook-id") ?? "" },
      body: await request.text(),
    };
    const target = `${env.RECEIVER}${url.pathname}`;
    if (url.searchParams.has("async")) {
      ctx.waitUntil(fetch(target, init).then((r) => r.arrayBuffer()));
      return new Response(null, { status: 202 });
    }
    const res = await fetch(target, init);
    await res.arrayBuffer();
    return new Response(null, { status: res.ok ? 202 : 502 });
  },
};

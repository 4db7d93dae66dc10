// Laravel Echo with the pusher broadcaster, authorized the way a Laravel app
// does it: pusher-js POSTs socket_id and channel_name to
// /broadcasting/auth with the user's bearer token, and the backend answers
// with the SDK's signature.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import Echo from "laravel-echo";
import Pusher from "pusher-js";
import { env, sdk, uniq, sleep, handled } from "./helpers.mjs";

const users = {
  "token-alice": { id: "1", info: { id: 1, name: "Alice" } },
  "token-bob": { id: "2", info: { id: 2, name: "Bob" } },
};

// startAuthServer plays Laravel's Broadcast::routes(): it authorizes any
// private channel for a known bearer token and presence channels with
// the user's info.
async function startAuthServer(t) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const form = new URLSearchParams(body);
      const user = users[(req.headers.authorization ?? "").replace(/^Bearer /, "")];
      seen.push({ path: req.url, channel: form.get("channel_name"), user: user?.id });
      if (req.method !== "POST" || req.url !== "/broadcasting/auth" || !user) {
        res.writeHead(403).end();
        return;
      }
      const channel = form.get("channel_name");
      const presence = channel.startsWith("presence-") ? { user_id: user.id, user_info: user.info } : undefined;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(sdk.authorizeChannel(form.get("socket_id"), channel, presence)));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${server.address().port}/broadcasting/auth`, seen };
}

function echo(t, auth, token) {
  const e = new Echo({
    broadcaster: "pusher",
    Pusher,
    key: env.key,
    cluster: "mt1",
    wsHost: env.host,
    wsPort: env.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    authEndpoint: auth.url,
    // A fresh headers object: Echo's default one is shared by every Echo
    // in the process, and bearerToken is written into it.
    auth: { headers: {} },
    bearerToken: token,
  });
  t.after(() => e.disconnect());
  return e;
}

function subscribed(echoChannel, ms = 5000) {
  return handled(new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Echo channel ${echoChannel.name} not subscribed after ${ms}ms`)), ms);
    echoChannel.subscribed(() => {
      clearTimeout(timer);
      resolve();
    });
    echoChannel.error((err) => {
      clearTimeout(timer);
      reject(new Error(`Echo channel ${echoChannel.name}: ${JSON.stringify(err)}`));
    });
  }));
}

function waitFor(register, what, ms = 5000) {
  return handled(new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)), ms);
    register((...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  }));
}

test("private('orders').listen('.OrderShipped') receives OrderShipped", { timeout: 15000 }, async (t) => {
  const auth = await startAuthServer(t);
  const e = echo(t, auth, "token-alice");
  const id = uniq("");
  const orders = e.private(`orders.${id}`);
  const got = waitFor((cb) => orders.listen(".OrderShipped", cb), ".OrderShipped");
  await subscribed(orders);
  assert.ok(auth.seen.some((s) => s.channel === `private-orders.${id}` && s.user === "1"), JSON.stringify(auth.seen));
  await sdk.trigger(`private-orders.${id}`, "OrderShipped", { order: { id: 42 } });
  assert.deepEqual((await got)[0], { order: { id: 42 } });
});

test("listen('OrderShipped') receives App\\Events\\OrderShipped", { timeout: 15000 }, async (t) => {
  const auth = await startAuthServer(t);
  const e = echo(t, auth, "token-alice");
  const name = uniq("orders.");
  const orders = e.private(name);
  const got = waitFor((cb) => orders.listen("OrderShipped", cb), "App\\Events\\OrderShipped");
  await subscribed(orders);
  await sdk.trigger(`private-${name}`, "App\\Events\\OrderShipped", { order: { id: 7 } });
  assert.deepEqual((await got)[0], { order: { id: 7 } });
});

test("channel('news').listen('.Breaking') on a public channel", { timeout: 15000 }, async (t) => {
  const auth = await startAuthServer(t);
  const e = echo(t, auth, "token-alice");
  const name = uniq("news.");
  const news = e.channel(name);
  const got = waitFor((cb) => news.listen(".Breaking", cb), ".Breaking");
  await subscribed(news);
  await sdk.trigger(name, "Breaking", { headline: "it works" });
  assert.deepEqual((await got)[0], { headline: "it works" });
  assert.equal(auth.seen.length, 0, "a public channel asked for authorization");
});

test("join(): here, joining, leaving and whispers", { timeout: 20000 }, async (t) => {
  const auth = await startAuthServer(t);
  const a = echo(t, auth, "token-alice");
  const b = echo(t, auth, "token-bob");
  const room = uniq("chat.");

  const ra = a.join(room);
  const hereA = waitFor((cb) => ra.here(cb), "here() for alice");
  await subscribed(ra);
  assert.deepEqual(await hereA, [[users["token-alice"].info]]);

  const joined = waitFor((cb) => ra.joining(cb), "joining() for bob");
  const rb = b.join(room);
  const hereB = waitFor((cb) => rb.here(cb), "here() for bob");
  await subscribed(rb);
  const [present] = await hereB;
  assert.deepEqual(
    [...present].sort((x, y) => x.id - y.id),
    [users["token-alice"].info, users["token-bob"].info],
  );
  assert.deepEqual(await joined, [users["token-bob"].info]);

  const typing = waitFor((cb) => rb.listenForWhisper("typing", cb), "whisper typing");
  const ownWhispers = [];
  ra.listenForWhisper("typing", (d) => ownWhispers.push(d));
  ra.whisper("typing", { name: "Alice" });
  const [whisper, meta] = await typing;
  assert.deepEqual(whisper, { name: "Alice" });
  assert.deepEqual(meta, { user_id: "1" });

  const left = waitFor((cb) => rb.leaving(cb), "leaving() for alice");
  a.leave(room);
  assert.deepEqual(await left, [users["token-alice"].info]);
  assert.deepEqual(ownWhispers, [], "alice heard her own whisper");
});

test("toOthers: the socket id Echo reports excludes its own connection", { timeout: 15000 }, async (t) => {
  const auth = await startAuthServer(t);
  const a = echo(t, auth, "token-alice");
  const b = echo(t, auth, "token-bob");
  const name = uniq("board.");
  const ca = a.private(name);
  const cb = b.private(name);
  const own = [];
  ca.listen(".CardMoved", (d) => own.push(d));
  const got = waitFor((f) => cb.listen(".CardMoved", f), "CardMoved on bob's side");
  await Promise.all([subscribed(ca), subscribed(cb)]);
  assert.match(a.socketId(), /^\d+\.\d+$/);
  // What Laravel's broadcast(...)->toOthers() sends, from the X-Socket-ID header.
  await sdk.trigger(`private-${name}`, "CardMoved", { card: 3 }, { socket_id: a.socketId() });
  assert.deepEqual((await got)[0], { card: 3 });
  const marker = waitFor((f) => ca.listen(".Marker", f), "Marker on alice's side");
  await sdk.trigger(`private-${name}`, "Marker", {});
  await marker;
  assert.deepEqual(own, [], "the sender's own connection received a toOthers event");
});

test("an unauthorized user is refused by the app, and Echo reports it", { timeout: 15000 }, async (t) => {
  const auth = await startAuthServer(t);
  const e = echo(t, auth, "token-nobody");
  const ch = e.private(uniq("orders."));
  const [err] = await waitFor((cb) => ch.error(cb), "error()");
  assert.equal(err.status, 403, JSON.stringify(err));
  await sleep(10);
  assert.equal(e.connectionStatus(), "connected");
});

// The HTTP API (/apps/{app_id}/...) as the pusher server SDK calls it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { env, sdk, sdkWithSecret, client, subscribe, next, json, httpStatus, uniq } from "./helpers.mjs";

const alice = { id: "alice", info: { name: "Alice" } };
const bob = { id: "bob", info: { name: "Bob" } };

test("trigger answers 200 with a JSON object", { timeout: 15000 }, async (t) => {
  const name = uniq("api-trigger-");
  const ch = await subscribe(client(t), name);
  const got = next(ch, "e");
  const { status, body } = await json(sdk.trigger(name, "e", { x: 1 }));
  assert.equal(status, 200);
  assert.equal(typeof body, "object");
  assert.deepEqual((await got)[0], { x: 1 });
});

test("trigger with info returns the channels' counts", { timeout: 15000 }, async (t) => {
  const name = uniq("presence-api-info-");
  await subscribe(client(t, { user: alice }), name);
  await subscribe(client(t, { user: alice }), name);
  const { status, body } = await json(sdk.trigger(name, "e", {}, { info: "user_count,subscription_count" }));
  assert.equal(status, 200);
  assert.deepEqual(body, { channels: { [name]: { user_count: 1, subscription_count: 2 } } });
});

test("triggerBatch delivers every event of the batch", { timeout: 15000 }, async (t) => {
  const one = uniq("api-batch-1-");
  const two = uniq("private-api-batch-2-");
  const p = client(t);
  const other = client(t);
  const [ch1, ch2] = await Promise.all([subscribe(p, one), subscribe(p, two)]);
  const ch2other = await subscribe(other, two);
  const got = Promise.all([next(ch1, "first"), next(ch2, "second"), next(ch2other, "third")]);
  const excluded = [];
  ch2.bind("third", (d) => excluded.push(d));
  const { status } = await json(
    sdk.triggerBatch([
      { channel: one, name: "first", data: { n: 1 } },
      { channel: two, name: "second", data: "plain" },
      { channel: two, name: "third", data: { n: 3 }, socket_id: p.connection.socket_id },
    ]),
  );
  assert.equal(status, 200);
  const [[d1], [d2], [d3]] = await got;
  assert.deepEqual(d1, { n: 1 });
  assert.equal(d2, "plain");
  assert.deepEqual(d3, { n: 3 });
  const after = next(ch2, "barrier");
  await sdk.trigger(two, "barrier", {});
  await after;
  assert.deepEqual(excluded, [], "socket_id in a batch event did not exclude that connection");
});

test("GET /channels lists occupied channels by prefix, with user_count", { timeout: 20000 }, async (t) => {
  const prefix = uniq("presence-api-list-") + "-";
  const busy = prefix + "busy";
  const quiet = prefix + "quiet";
  await subscribe(client(t, { user: alice }), busy);
  await subscribe(client(t, { user: alice }), busy);
  await subscribe(client(t, { user: bob }), busy);
  await subscribe(client(t, { user: bob }), quiet);
  const { status, body } = await json(sdk.get({ path: "/channels", params: { filter_by_prefix: prefix, info: "user_count" } }));
  assert.equal(status, 200);
  assert.deepEqual(body, { channels: { [busy]: { user_count: 2 }, [quiet]: { user_count: 1 } } });

  const pub = uniq("api-list-pub-");
  await subscribe(client(t), pub);
  const plain = await json(sdk.get({ path: "/channels", params: { filter_by_prefix: pub } }));
  assert.equal(plain.status, 200);
  assert.deepEqual(plain.body, { channels: { [pub]: {} } });
});

test("GET /channels with user_count for a non-presence prefix is a 400", { timeout: 15000 }, async () => {
  const status = await httpStatus(() => sdk.get({ path: "/channels", params: { filter_by_prefix: "private-", info: "user_count" } }));
  assert.equal(status, 400);
});

test("GET /channels/{name} reports occupied, user_count and subscription_count", { timeout: 20000 }, async (t) => {
  const name = uniq("presence-api-info-");
  await subscribe(client(t, { user: alice }), name);
  await subscribe(client(t, { user: alice }), name);
  await subscribe(client(t, { user: bob }), name);
  const presence = await json(sdk.get({ path: `/channels/${name}`, params: { info: "user_count,subscription_count" } }));
  assert.equal(presence.status, 200);
  assert.deepEqual(presence.body, { occupied: true, user_count: 2, subscription_count: 3 });

  const pub = uniq("api-info-pub-");
  await subscribe(client(t), pub);
  await subscribe(client(t), pub);
  const occupied = await json(sdk.get({ path: `/channels/${pub}`, params: { info: "subscription_count" } }));
  assert.deepEqual(occupied.body, { occupied: true, subscription_count: 2 });

  const empty = await json(sdk.get({ path: `/channels/${uniq("api-info-empty-")}` }));
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body, { occupied: false });
});

test("GET /channels/{name}/users lists a presence channel's users once each", { timeout: 20000 }, async (t) => {
  const name = uniq("presence-api-users-");
  await subscribe(client(t, { user: alice }), name);
  await subscribe(client(t, { user: alice }), name);
  await subscribe(client(t, { user: bob }), name);
  const { status, body } = await json(sdk.get({ path: `/channels/${name}/users` }));
  assert.equal(status, 200);
  assert.deepEqual(
    [...body.users].sort((a, b) => a.id.localeCompare(b.id)),
    [{ id: "alice" }, { id: "bob" }],
  );
  const notPresence = await httpStatus(() => sdk.get({ path: `/channels/${uniq("private-api-users-")}/users` }));
  assert.equal(notPresence, 400);
});

test("terminate_connections for a user with no connections answers 200", { timeout: 15000 }, async () => {
  const res = await sdk.terminateUserConnections(uniq("nobody-"));
  assert.equal(res.status, 200);
});

test("a request signed with the wrong secret is a 401", { timeout: 15000 }, async (t) => {
  const wrong = sdkWithSecret("not-the-secret-" + "x".repeat(20));
  const name = uniq("api-401-");
  const ch = await subscribe(client(t), name);
  const leaked = [];
  ch.bind("forged", (d) => leaked.push(d));
  assert.equal(await httpStatus(() => wrong.trigger(name, "forged", {})), 401);
  assert.equal(await httpStatus(() => wrong.triggerBatch([{ channel: name, name: "forged", data: {} }])), 401);
  assert.equal(await httpStatus(() => wrong.get({ path: "/channels" })), 401);
  assert.equal(await httpStatus(() => wrong.get({ path: `/channels/${name}` })), 401);
  assert.equal(await httpStatus(() => wrong.terminateUserConnections("alice")), 401);
  const after = next(ch, "real");
  await sdk.trigger(name, "real", {});
  await after;
  assert.deepEqual(leaked, [], "a forged trigger was delivered");
});

test("an event larger than PUSHER_MAX_EVENT_BYTES is a 413 and is not delivered", { timeout: 15000 }, async (t) => {
  const name = uniq("api-413-");
  const ch = await subscribe(client(t), name);
  const leaked = [];
  ch.bind("huge", (d) => leaked.push(d));
  const huge = "x".repeat(env.maxEventBytes + 1);
  assert.equal(await httpStatus(() => sdk.trigger(name, "huge", huge)), 413);
  // Exactly at the limit is fine.
  const atLimit = "y".repeat(env.maxEventBytes);
  const got = next(ch, "fits");
  assert.equal(await httpStatus(() => sdk.trigger(name, "fits", atLimit)), 200);
  assert.equal((await got)[0].length, env.maxEventBytes);
  assert.deepEqual(leaked, []);
});

// signedFetch makes an HTTP API request signed as the docs' "Authentication
// signature" section describes, with the clock or the body under the
// test's control.
async function signedFetch({ method, path, body, timestamp = Math.floor(Date.now() / 1000), sentBody = body }) {
  const params = { auth_key: env.key, auth_timestamp: String(timestamp), auth_version: "1.0" };
  if (body !== undefined) params.body_md5 = createHash("md5").update(body).digest("hex");
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join("&");
  const full = `/apps/${env.appId}${path}`;
  const signature = createHmac("sha256", env.secret).update(`${method}\n${full}\n${query}`).digest("hex");
  return fetch(`http://${env.host}:${env.port}${full}?${query}&auth_signature=${signature}`, {
    method,
    body: sentBody,
    headers: sentBody !== undefined ? { "content-type": "application/json" } : {},
  });
}

test("the signature as documented is accepted; a stale or tampered one is a 401", { timeout: 15000 }, async (t) => {
  const name = uniq("api-sig-");
  const ch = await subscribe(client(t), name);
  const leaked = [];
  ch.bind("forged", (d) => leaked.push(d));
  const body = JSON.stringify({ name: "signed", channels: [name], data: JSON.stringify({ ok: true }) });
  const got = next(ch, "signed");
  assert.equal((await signedFetch({ method: "POST", path: "/events", body })).status, 200);
  assert.deepEqual((await got)[0], { ok: true });

  const forged = JSON.stringify({ name: "forged", channels: [name], data: "{}" });
  // Replayed after more than the 600 s the docs allow.
  const stale = await signedFetch({ method: "POST", path: "/events", body: forged, timestamp: Math.floor(Date.now() / 1000) - 601 });
  assert.equal(stale.status, 401, "a request 601 s old was accepted");
  // Signed for one body, sent with another.
  const tampered = await signedFetch({ method: "POST", path: "/events", body, sentBody: forged });
  assert.equal(tampered.status, 401, "a body that does not match body_md5 was accepted");
  const after = next(ch, "real");
  await sdk.trigger(name, "real", {});
  await after;
  assert.deepEqual(leaked, [], "a stale or tampered request was delivered");
});

// Private channels: the server checks the signature the backend (the SDK)
// made for this socket and this channel, and nothing else gets in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { env, sdk, client, connected, subscribe, next, uniq, record, sleep } from "./helpers.mjs";

test("an authorized subscription succeeds and receives events", { timeout: 15000 }, async (t) => {
  const name = uniq("private-ok-");
  const ch = await subscribe(client(t), name);
  assert.equal(ch.subscribed, true);
  const got = next(ch, "secret-news");
  await sdk.trigger(name, "secret-news", { for: "members only" });
  assert.deepEqual((await got)[0], { for: "members only" });
});

// Each forgery is what an auth endpoint other than the backend's could
// return. The channel must refuse it with a subscription_error, and the
// connection must stay up and keep working.
const forgeries = {
  "a made-up signature": (socketId, channel) => ({ auth: `${env.key}:${"f".repeat(64)}` }),
  "a signature for another socket": (socketId, channel) => sdk.authorizeChannel("1234.5678", channel),
  "a signature for another channel": (socketId, channel) => sdk.authorizeChannel(socketId, channel + "x"),
  "another app key": (socketId, channel) => {
    const { auth } = sdk.authorizeChannel(socketId, channel);
    return { auth: "other-key:" + auth.split(":")[1] };
  },
  "no signature": () => ({ auth: "" }),
};

for (const [what, forge] of Object.entries(forgeries)) {
  test(`a subscription with ${what} gets pusher:subscription_error and the connection lives on`, { timeout: 15000 }, async (t) => {
    const bad = uniq("private-forged-");
    const p = client(t, { authorize: (socketId, channel) => (channel === bad ? forge(socketId, channel) : undefined) });
    await connected(p);
    const errors = record(p.connection, "error");
    const states = [];
    p.connection.bind("state_change", ({ current }) => states.push(current));

    const ch = p.subscribe(bad);
    const events = record(ch, "leak");
    const succeeded = record(ch, "pusher:subscription_succeeded");
    const [err] = await next(ch, "pusher:subscription_error", { ms: 5000 });
    // pusher-js passes the frame's data: {type, error, status}; status is
    // HTTP's 401 Unauthorized, what pusher-js reports when an auth
    // endpoint refuses, and what soketi sends for a bad signature.
    assert.equal(err.type, "AuthError", JSON.stringify(err));
    assert.equal(err.status, 401, JSON.stringify(err));
    assert.equal(ch.subscribed, false);

    // The connection is still the same one and still serves other channels.
    const ok = await subscribe(p, uniq("private-after-"));
    const pub = await subscribe(p, uniq("pub-after-"));
    const got = Promise.all([next(ok, "still"), next(pub, "still")]);
    await sdk.trigger([ok.name, pub.name], "still", { alive: true });
    await got;
    // Nothing published on the refused channel gets through.
    await sdk.trigger(bad, "leak", { must: "not arrive" });
    const barrierOk = next(ok, "after-leak");
    await sdk.trigger(ok.name, "after-leak", {});
    await barrierOk;
    await sleep(200); // order holds per channel only: give the other one a moment too
    assert.equal(events.length, 0, `the refused channel delivered ${JSON.stringify(events)}`);
    assert.equal(succeeded.length, 0, "subscription_succeeded after the error");
    assert.deepEqual(states, [], `the connection changed state: ${states}`);
    assert.deepEqual(errors, [], `connection errors: ${JSON.stringify(errors)}`);
  });
}

test("presence: channel_data altered after signing is refused", { timeout: 15000 }, async (t) => {
  const name = uniq("presence-tamper-");
  const p = client(t, {
    user: { id: "mallory", info: {} },
    authorize: (socketId, channel) => {
      const signed = sdk.authorizeChannel(socketId, channel, { user_id: "mallory", user_info: {} });
      return { ...signed, channel_data: JSON.stringify({ user_id: "admin", user_info: {} }) };
    },
  });
  await connected(p);
  const ch = p.subscribe(name);
  const [err] = await next(ch, "pusher:subscription_error", { ms: 5000 });
  assert.equal(err.type, "AuthError", JSON.stringify(err));
  assert.equal(err.status, 401, JSON.stringify(err));
  assert.equal(ch.subscribed, false);
  assert.equal(p.connection.state, "connected");
});

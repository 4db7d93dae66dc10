// Frames pusher-js would never send, over a raw WebSocket. Each is answered
// with pusher:error or pusher:subscription_error, gains nothing, and a
// well-behaved client on the same server keeps receiving throughout.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Pusher from "pusher-js";
import { env, sdk, clientOptions, subscribe, next, uniq, sleep, Raw } from "./helpers.mjs";

// The bystander: a pusher-js client that must not notice anything.
let bystander, watched;
const watchName = uniq("pub-bystander-");
before(async () => {
  bystander = new Pusher(env.key, clientOptions());
  watched = await subscribe(bystander, watchName);
});
after(() => bystander.disconnect());

async function bystanderStillReceives() {
  const token = uniq("");
  const got = next(watched, "heartbeat", { filter: (d) => d.token === token, what: "the bystander's event" });
  await sdk.trigger(watchName, "heartbeat", { token });
  await got;
  assert.equal(bystander.connection.state, "connected");
}

// refusal waits for the server's answer to a bad frame: a pusher:error, or
// a subscription_error for the given channel.
function refusal(raw, from, channel) {
  return raw.next(
    (f) => f.event === "pusher:error" || (channel !== undefined && f.event === "pusher:subscription_error" && f.channel === channel),
    5000,
    "pusher:error or pusher:subscription_error",
    from,
  );
}

function isError(f) {
  assert.ok(
    f.event === "pusher:error" || f.event === "pusher:subscription_error",
    `want an error frame, got ${f.raw}`,
  );
}

const garbage = {
  "malformed JSON": '{"event":"pusher:subscribe","data":',
  "a JSON array": "[1,2,3]",
  "a JSON string": '"pusher:subscribe"',
  "an object without event": JSON.stringify({ data: { channel: "x" } }),
  "an unknown pusher: event": JSON.stringify({ event: "pusher:teleport", data: {} }),
  "a subscribe without a channel": JSON.stringify({ event: "pusher:subscribe", data: {} }),
};

for (const [what, frame] of Object.entries(garbage)) {
  test(`${what} is answered with pusher:error`, { timeout: 15000 }, async (t) => {
    const raw = await Raw.open(t);
    const from = raw.mark();
    raw.send(frame);
    const f = await refusal(raw, from);
    assert.equal(f.event, "pusher:error", f.raw);
    assert.equal(typeof f.data.message, "string", `pusher:error data wants a message: ${f.raw}`);
    // The protocol makes code optional and defines none for an unreadable frame.
    const code = f.data.code;
    assert.ok(code === undefined || code === null || (code >= 4000 && code < 4400), `code: ${f.raw}`);
    await bystanderStillReceives();
  });
}

test("subscribing to a private channel without auth is refused", { timeout: 15000 }, async (t) => {
  const raw = await Raw.open(t);
  const name = uniq("private-noauth-");
  const f = await raw.subscribe(name);
  assert.equal(f.event, "pusher:subscription_error", f.raw);
  assert.equal(f.data.type, "AuthError", f.raw);
  assert.equal(f.data.status, 401, f.raw);
  // Refused, not subscribed: a trigger there never reaches it.
  const from = raw.mark();
  await sdk.trigger(name, "leak", {});
  await raw.roundTrip();
  await sleep(200);
  assert.ok(!raw.frames.slice(from).some((f) => f.event === "leak"), raw.dump(from));
  await bystanderStillReceives();
});

test("subscribing to a presence channel without channel_data is refused", { timeout: 15000 }, async (t) => {
  const raw = await Raw.open(t);
  const name = uniq("presence-nodata-");
  const { auth } = sdk.authorizeChannel(raw.socketId, name);
  const f = await raw.subscribe(name, { auth });
  assert.equal(f.event, "pusher:subscription_error", f.raw);
  await bystanderStillReceives();
});

const badNames = {
  "a space and !": "bad channel!",
  "a slash": "a/b",
  "an empty name": "",
  // Pusher's docs say 164, but the server SDKs accept 200 and so does the
  // server (README, "Choices where the protocol leaves one").
  "201 characters": "a".repeat(201),
  "unicode": "kanäle",
};

for (const [what, name] of Object.entries(badNames)) {
  test(`a channel name with ${what} is refused`, { timeout: 15000 }, async (t) => {
    const raw = await Raw.open(t);
    const from = raw.mark();
    raw.send({ event: "pusher:subscribe", data: { channel: name } });
    const f = await refusal(raw, from, name);
    isError(f);
    assert.ok(
      !raw.frames.slice(from).some((f) => f.event === "pusher_internal:subscription_succeeded"),
      raw.dump(from),
    );
    await bystanderStillReceives();
  });
}

test("200 characters is still a valid channel name", { timeout: 15000 }, async (t) => {
  const raw = await Raw.open(t);
  const name = uniq("pub-long-").padEnd(200, "x");
  const f = await raw.subscribe(name);
  assert.equal(f.event, "pusher_internal:subscription_succeeded", f.raw);
});

test("another user's #server-to-user- channel cannot be subscribed", { timeout: 15000 }, async (t) => {
  const victim = uniq("victim-");
  const name = `#server-to-user-${victim}`;
  const raw = await Raw.open(t);
  const from = raw.mark();
  raw.send({ event: "pusher:subscribe", data: { channel: name, auth: "" } });
  const f = await refusal(raw, from, name);
  isError(f);
  await sdk.sendToUser(victim, "private-note", { secret: true });
  await raw.roundTrip();
  await sleep(200);
  assert.ok(!raw.frames.some((f) => f.event === "private-note"), `a stranger received the user's event: ${raw.dump(from)}`);
  await bystanderStillReceives();
});

test("a client event larger than PUSHER_MAX_EVENT_BYTES is refused and not relayed", { timeout: 15000 }, async (t) => {
  const name = uniq("private-big-");
  const sender = await Raw.open(t);
  const peer = await Raw.open(t);
  for (const r of [sender, peer]) {
    const { auth } = sdk.authorizeChannel(r.socketId, name);
    const ok = await r.subscribe(name, { auth });
    assert.equal(ok.event, "pusher_internal:subscription_succeeded", ok.raw);
  }
  const from = sender.mark();
  const peerFrom = peer.mark();
  // Over the event limit, under the WebSocket message limit.
  sender.send({ event: "client-big", channel: name, data: { blob: "z".repeat(env.maxEventBytes + 100) } });
  const f = await refusal(sender, from);
  assert.equal(f.event, "pusher:error", f.raw);
  assert.equal(typeof f.data.message, "string", f.raw);
  await peer.roundTrip();
  await sleep(200);
  assert.ok(!peer.frames.slice(peerFrom).some((f) => f.event === "client-big"), "the oversized client event was relayed");
  await bystanderStillReceives();
});

test("a client event on a channel the sender is not subscribed to is refused", { timeout: 15000 }, async (t) => {
  const name = uniq("private-notmine-");
  const member = await Raw.open(t);
  const { auth } = sdk.authorizeChannel(member.socketId, name);
  await member.subscribe(name, { auth });
  const memberFrom = member.mark();
  const outsider = await Raw.open(t);
  const from = outsider.mark();
  outsider.send({ event: "client-intrude", channel: name, data: { hi: 1 } });
  const f = await refusal(outsider, from);
  assert.equal(f.event, "pusher:error", f.raw);
  await member.roundTrip();
  await sleep(200);
  assert.ok(!member.frames.slice(memberFrom).some((f) => f.event === "client-intrude"), member.dump(memberFrom));
  await bystanderStillReceives();
});

test("a client may not send pusher_internal: or plain events to a channel", { timeout: 15000 }, async (t) => {
  const name = uniq("private-spoof-");
  const member = await Raw.open(t);
  const spoofer = await Raw.open(t);
  for (const r of [member, spoofer]) {
    const { auth } = sdk.authorizeChannel(r.socketId, name);
    await r.subscribe(name, { auth });
  }
  const memberFrom = member.mark();
  spoofer.send({ event: "pusher_internal:member_added", channel: name, data: { user_id: "ghost" } });
  spoofer.send({ event: "OrderShipped", channel: name, data: { fake: true } });
  await spoofer.roundTrip().catch(() => {}); // refusing may close the spoofer; either is fine
  await member.roundTrip();
  await sleep(200);
  const relayed = member.frames.slice(memberFrom).filter((f) => f.event === "pusher_internal:member_added" || f.event === "OrderShipped");
  assert.deepEqual(relayed.map((f) => f.raw), [], "a client spoofed server events");
  await bystanderStillReceives();
});

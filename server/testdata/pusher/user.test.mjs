// User authentication (pusher:signin), events sent to a user, and the
// termination of a user's connections, through pusher-js and the SDK.
import { test } from "node:test";
import assert from "node:assert/strict";
import { env, sdk, client, connected, next, record, closedWith, sleep, uniq } from "./helpers.mjs";

// signedIn signs a client in and waits until pusher-js has also subscribed
// to the user's #server-to-user- channel, as it does after signin_success.
async function signedIn(p) {
  await connected(p);
  const ok = next(p, "pusher:signin_success", { what: "pusher:signin_success" });
  p.signin();
  await ok;
  for (let i = 0; i < 250; i++) {
    if (p.user.serverToUserChannel?.subscribed) return;
    await sleep(20);
  }
  throw new Error(`signed in as ${p.user.user_data?.id} but #server-to-user- never subscribed`);
}

test("signin succeeds and pusher-js learns the user", { timeout: 15000 }, async (t) => {
  const id = uniq("user-");
  const p = client(t, { user: { id, info: { name: "Carol" } } });
  await signedIn(p);
  assert.deepEqual(p.user.user_data, { id, user_info: { name: "Carol" } });
});

test("sendToUser reaches every connection of that user and nobody else", { timeout: 20000 }, async (t) => {
  const carol = uniq("carol-");
  const dave = uniq("dave-");
  const c1 = client(t, { user: { id: carol, info: {} } });
  const c2 = client(t, { user: { id: carol, info: {} } });
  const d1 = client(t, { user: { id: dave, info: {} } });
  await Promise.all([signedIn(c1), signedIn(c2), signedIn(d1)]);
  const leaked = record(d1.user, "notice");
  const got = Promise.all([next(c1.user, "notice"), next(c2.user, "notice")]);
  await sdk.sendToUser(carol, "notice", { text: "for carol", n: 1 });
  for (const [data] of await got) assert.deepEqual(data, { text: "for carol", n: 1 });
  const toDave = next(d1.user, "notice-dave");
  await sdk.sendToUser(dave, "notice-dave", { text: "for dave" });
  assert.deepEqual((await toDave)[0], { text: "for dave" });
  await sleep(200);
  assert.deepEqual(leaked, [], "another user received carol's event");
});

test("terminateUserConnections closes every connection of that user only", { timeout: 20000 }, async (t) => {
  const erin = uniq("erin-");
  const frank = uniq("frank-");
  const e1 = client(t, { user: { id: erin, info: {} } });
  const e2 = client(t, { user: { id: erin, info: {} } });
  const f1 = client(t, { user: { id: frank, info: {} } });
  await Promise.all([signedIn(e1), signedIn(e2), signedIn(f1)]);
  const fErrors = record(f1.connection, "error");
  const fStates = [];
  f1.connection.bind("state_change", ({ current }) => fStates.push(current));
  const closed = Promise.all([closedWith(e1), closedWith(e2)]);
  const res = await sdk.terminateUserConnections(erin);
  assert.equal(res.status, 200);
  for (const code of await closed) {
    assert.ok(code >= 4000 && code < 4400, `closed with ${code}, want a Pusher close code`);
  }
  // Frank is untouched.
  const still = next(f1.user, "still-here");
  await sdk.sendToUser(frank, "still-here", {});
  await still;
  assert.deepEqual(fStates, [], `frank's connection changed state: ${fStates}`);
  assert.deepEqual(fErrors, []);
});

test("a forged signin is not accepted", { timeout: 15000 }, async (t) => {
  const eve = uniq("eve-");
  const p = client(t, {
    options: {
      userAuthentication: {
        customHandler: (_, callback) =>
          callback(null, { auth: `${env.key}:${"0".repeat(64)}`, user_data: JSON.stringify({ id: eve }) }),
      },
    },
  });
  await connected(p);
  const success = record(p, "pusher:signin_success");
  p.signin();
  const leaked = record(p.user, "for-eve");
  await sleep(1000);
  await sdk.sendToUser(eve, "for-eve", { secret: true });
  await sleep(500);
  assert.deepEqual(success, [], "a forged signature signed in");
  assert.deepEqual(leaked, [], "a forged signin received the user's events");
});

// The Pusher Channels demo: pusher-js (loaded before this module, as
// window.Pusher) connected to this page's own server, a presence channel
// whose membership the server's demo endpoint signs, client events, and a
// public channel with events triggered through the server's HTTP API.

const LOG_LIMIT = 300;
const CHANNEL_NAME = /^[A-Za-z0-9_\-=@,.;]+$/;

const $ = (id) => document.getElementById(id);
const ui = {
  state: $('state'),
  socketId: $('socket-id'),
  appKey: $('app-key'),
  connect: $('connect'),
  presenceForm: $('presence-form'),
  name: $('name'),
  room: $('room'),
  roomPrefix: $('room-prefix'),
  join: $('join'),
  members: $('members'),
  memberCount: $('member-count'),
  whisperForm: $('whisper-form'),
  whisper: $('whisper'),
  whisperSend: $('whisper-send'),
  whisperHint: $('whisper-hint'),
  subscribeForm: $('subscribe-form'),
  channel: $('channel'),
  subscribe: $('subscribe'),
  triggerForm: $('trigger-form'),
  event: $('event'),
  message: $('message'),
  trigger: $('trigger'),
  library: $('library'),
  alert: $('alert'),
  log: $('log'),
};

const STATE_TEXT = {
  initialized: 'Starting…',
  connecting: 'Connecting…',
  connected: 'Connected',
  unavailable: 'Unavailable; retrying…',
  failed: 'Failed: this browser cannot connect',
  disconnected: 'Disconnected',
};

let pusher = null;
let cfg = null;
let presence = null; // the joined presence channel, or null
let publicChannel = null; // the subscribed public channel, or null

function time() {
  return new Date().toLocaleTimeString([], { hour12: false });
}

// addEntry puts one line at the top of the log and trims the oldest.
function addEntry(kind, parts, attrs = {}) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  Object.assign(li.dataset, attrs);
  const when = document.createElement('time');
  when.textContent = time();
  li.append(when);
  for (const [cls, text] of parts) {
    const span = document.createElement(cls === 'payload' ? 'code' : 'span');
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  ui.log.prepend(li);
  while (ui.log.childElementCount > LOG_LIMIT) ui.log.lastElementChild.remove();
}

function note(text, attrs) {
  addEntry('note', [['note', text]], attrs);
}

function showAlert(text) {
  ui.alert.textContent = text;
  ui.alert.hidden = false;
}

function clearAlert() {
  ui.alert.hidden = true;
  ui.alert.textContent = '';
}

function show(data) {
  return typeof data === 'string' ? data : JSON.stringify(data);
}

// --- connection ---------------------------------------------------------

function onState(current) {
  const connected = current === 'connected';
  ui.state.dataset.state = current;
  ui.state.textContent = STATE_TEXT[current] || current;
  ui.socketId.textContent = connected ? pusher.connection.socket_id : 'none';
  ui.connect.textContent = current === 'disconnected' || current === 'failed' ? 'Connect' : 'Disconnect';
  ui.connect.disabled = current === 'failed';
  ui.join.disabled = !connected && presence === null;
  ui.subscribe.disabled = !connected && publicChannel === null;
  // pusher-js forgets the members when the connection drops (just after
  // this event) and joins again, with a fresh list, when it is back.
  if (!connected && presence) {
    ui.members.replaceChildren();
    ui.memberCount.textContent = '0';
  }
  updateWhisper();
}

function updateWhisper() {
  ui.whisperSend.disabled = !(cfg && cfg.clientEvents && presence && presence.subscribed && ui.state.dataset.state === 'connected');
}

function start() {
  const port = location.port ? Number(location.port) : undefined;
  pusher = new window.Pusher(cfg.key, {
    // pusher-js 8 requires a cluster; wsHost below makes it unused.
    cluster: 'self-hosted',
    wsHost: location.hostname,
    wsPort: port || 80,
    wssPort: port || 443,
    forceTLS: location.protocol === 'https:',
    // WebSocket only: the SockJS and XHR fallbacks would load code from
    // Pusher's CDN, which this page's Content-Security-Policy forbids.
    enabledTransports: ['ws', 'wss'],
    // No timeline reports to Pusher's stats servers.
    enableStats: false,
    channelAuthorization: {
      endpoint: cfg.authEndpoint,
      transport: 'ajax',
      // Sent with socket_id and channel_name; the server puts it in the
      // member's user_info and signs it.
      paramsProvider: () => ({ name: ui.name.value.trim() }),
    },
  });
  pusher.connection.bind('state_change', ({ previous, current }) => {
    onState(current);
    const text = current === 'connected'
      ? `Connected as socket ${pusher.connection.socket_id}`
      : `Connection ${previous} → ${current}`;
    note(text, { state: current });
  });
  pusher.connection.bind('error', (err) => {
    const data = (err && err.data) || {};
    const code = data.code !== undefined && data.code !== null ? String(data.code) : (err && err.type) || 'error';
    const message = data.message || (err && err.error && err.error.type) || '';
    addEntry('error', [['code', code], ['detail', message]], { code });
  });
  onState(pusher.connection.state);
}

ui.connect.addEventListener('click', () => {
  const state = pusher.connection.state;
  if (state === 'disconnected' || state === 'failed') pusher.connect();
  else pusher.disconnect();
});

// --- presence -------------------------------------------------------------

function renderMembers() {
  ui.members.replaceChildren();
  if (!presence) {
    ui.memberCount.textContent = '0';
    return;
  }
  const list = [];
  presence.members.each((m) => list.push(m));
  list.sort((a, b) => String(a.info?.name).localeCompare(String(b.info?.name)) || a.id.localeCompare(b.id));
  for (const m of list) {
    const li = document.createElement('li');
    li.dataset.id = m.id;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = m.info?.name ?? m.id;
    li.append(name);
    if (m.id === presence.members.myID) {
      li.dataset.me = '';
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = '(you)';
      li.append(' ', you);
    }
    ui.members.append(li);
  }
  ui.memberCount.textContent = String(presence.members.count);
}

function memberName(id) {
  const m = presence?.members.get(id);
  return m?.info?.name ?? id ?? 'someone';
}

function join() {
  const name = ui.name.value.trim();
  const room = ui.room.value.trim();
  if (!name) {
    showAlert('Choose a display name first.');
    ui.name.focus();
    return;
  }
  if (!CHANNEL_NAME.test(room)) {
    showAlert('The channel name may hold letters, digits and _ - = @ , . ; only.');
    ui.room.focus();
    return;
  }
  clearAlert();
  const channelName = cfg.presencePrefix + room;
  const ch = pusher.subscribe(channelName);
  presence = ch;
  setJoined(true);
  note(`Joining ${channelName} as ${name}…`);
  ch.bind('pusher:subscription_succeeded', () => {
    if (presence !== ch) return;
    renderMembers();
    updateWhisper();
    note(`Joined ${channelName}: ${ch.members.count} member(s)`, { joined: channelName });
  });
  ch.bind('pusher:subscription_error', (err) => {
    if (presence !== ch) return;
    showAlert(`Could not join ${channelName}: ${err.error || err.type || 'refused'} (HTTP ${err.status ?? '?'})`);
    leave();
  });
  ch.bind('pusher:member_added', (m) => {
    if (presence !== ch) return;
    renderMembers();
    addEntry('member', [['channel', channelName], ['event', 'member_added'], ['payload', m.info?.name ?? m.id]], { event: 'member_added', member: m.id });
  });
  ch.bind('pusher:member_removed', (m) => {
    if (presence !== ch) return;
    renderMembers();
    addEntry('member', [['channel', channelName], ['event', 'member_removed'], ['payload', m.info?.name ?? m.id]], { event: 'member_removed', member: m.id });
  });
  ch.bind('client-message', (data, meta) => {
    if (presence !== ch) return;
    const from = memberName(meta?.user_id);
    addEntry('client', [['channel', channelName], ['event', `client-message from ${from}`], ['payload', show(data)]],
      { channel: channelName, event: 'client-message', from });
  });
}

function leave() {
  if (!presence) return;
  const name = presence.name;
  presence.unbind();
  pusher.unsubscribe(name);
  presence = null;
  setJoined(false);
  renderMembers();
  note(`Left ${name}`);
}

function setJoined(joined) {
  ui.join.textContent = joined ? 'Leave' : 'Join';
  ui.name.disabled = joined;
  ui.room.disabled = joined;
  ui.join.disabled = !joined && pusher.connection.state !== 'connected';
  updateWhisper();
}

ui.presenceForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (presence) leave();
  else join();
});

ui.whisperForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!presence || !presence.subscribed) return;
  const data = { text: ui.whisper.value };
  // The server relays a client event to every subscriber but its sender.
  if (presence.trigger('client-message', data)) {
    addEntry('sent', [['channel', presence.name], ['event', 'client-message (sent)'], ['payload', show(data)]],
      { channel: presence.name, event: 'client-message' });
  } else {
    showAlert('The client event was not sent: the connection is not open.');
  }
});

// --- public channel --------------------------------------------------------

function subscribePublic() {
  const name = ui.channel.value.trim();
  if (!CHANNEL_NAME.test(name)) {
    showAlert('The channel name may hold letters, digits and _ - = @ , . ; only.');
    ui.channel.focus();
    return;
  }
  if (/^(private-|presence-|#)/.test(name)) {
    showAlert('That is not a public channel name: private- and presence- channels need an authorization, which the presence panel shows.');
    ui.channel.focus();
    return;
  }
  clearAlert();
  const ch = pusher.subscribe(name);
  publicChannel = ch;
  setSubscribed(true);
  ch.bind_global((event, data) => {
    if (publicChannel !== ch) return;
    if (event === 'pusher:subscription_succeeded') {
      note(`Subscribed to ${name}`, { subscribed: name });
      return;
    }
    if (event === 'pusher:subscription_error') {
      showAlert(`Could not subscribe to ${name}: ${show(data)}`);
      return;
    }
    if (event.startsWith('pusher:')) return;
    addEntry('event', [['channel', name], ['event', event], ['payload', show(data)]], { channel: name, event });
  });
}

function unsubscribePublic() {
  const name = publicChannel.name;
  publicChannel.unbind_global();
  pusher.unsubscribe(name);
  publicChannel = null;
  setSubscribed(false);
  note(`Unsubscribed from ${name}`);
}

function setSubscribed(subscribed) {
  ui.subscribe.textContent = subscribed ? 'Unsubscribe' : 'Subscribe';
  ui.channel.disabled = subscribed;
  ui.subscribe.disabled = !subscribed && pusher.connection.state !== 'connected';
}

ui.subscribeForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (publicChannel) unsubscribePublic();
  else subscribePublic();
});

ui.triggerForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const channel = ui.channel.value.trim();
  const event = ui.event.value.trim();
  const from = ui.name.value.trim() || 'anonymous';
  const body = new URLSearchParams({ channel, event, data: JSON.stringify({ text: ui.message.value, from }) });
  ui.trigger.disabled = true;
  try {
    const resp = await fetch(cfg.triggerEndpoint, { method: 'POST', body });
    if (!resp.ok) {
      const reason = (await resp.text()).trim();
      showAlert(`Not triggered (HTTP ${resp.status}): ${reason}`);
      return;
    }
    clearAlert();
    note(`Triggered ${event} on ${channel}`, { triggered: channel });
  } catch (err) {
    showAlert(`Not triggered: ${err.message}`);
  } finally {
    ui.trigger.disabled = false;
  }
});

// --- start -------------------------------------------------------------------

async function main() {
  ui.name.value = `Guest ${Math.floor(100 + Math.random() * 900)}`;
  try {
    const resp = await fetch('/demo/pusher/config', { cache: 'no-store' });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    cfg = await resp.json();
  } catch (err) {
    ui.state.dataset.state = 'failed';
    ui.state.textContent = 'No Pusher app';
    showAlert(`This server did not give the demo its Pusher app (${err.message}).`);
    return;
  }
  if (typeof window.Pusher !== 'function') {
    showAlert('pusher-js did not load.');
    return;
  }
  ui.appKey.textContent = cfg.key;
  ui.roomPrefix.textContent = cfg.presencePrefix;
  ui.name.maxLength = cfg.maxName;
  ui.library.textContent = cfg.library;
  ui.trigger.disabled = false;
  if (!cfg.clientEvents) {
    ui.whisperHint.textContent = 'Client events are off on this server (PUSHER_CLIENT_EVENTS=false).';
  }
  start();
}

main();

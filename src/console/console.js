// The operator's console: a client of Herald's public GraphQL API over graphql-ws, like any other.
// Plain browser JavaScript with no build step; graphql-ws's UMD bundle (loaded first) defines window.graphqlWs.

const TOKEN_KEY = 'herald-console-token';
const REFRESH_MS = 2_000;
const CHART_SECONDS = 300;
const TAIL_ROWS = 50;
const SVG = 'http://www.w3.org/2000/svg';

const VIEWER = 'query ConsoleViewer { viewer { audience subject scopes topics expiresAt } }';
const TOPICS = 'query ConsoleTopics { topics { name subscriberCount } connections }';
const EVERY_TOPIC = 'subscription ConsoleRate { topic(name: "**") { id } }';
const BROADCASTS = 'subscription ConsoleBroadcasts { broadcasts { id } }';
const TAIL = 'subscription ConsoleTail($name: String!) { topic(name: $name) { id topic payload publishedAt } }';
const PUBLISH = 'mutation ConsolePublish($topic: String!, $payload: JSON!) { publish(topic: $topic, payload: $payload) { id publishedAt } }';

/** Herald's close codes that say what is wrong with the credential (README, Renewing and revoking tokens). */
const CLOSE_CODES = { 4401: 'UNAUTHENTICATED', 4403: 'FORBIDDEN', 4010: 'DISCONNECTED', 4008: 'SLOW_CONSUMER' };

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The page's one graphql-ws client; undefined while there is no token. */
let client;
/** Disposers of the current connection's subscriptions (chart and tail). */
let disposers = [];
let tailDispose;
let refreshing = false;
const openedAt = new Date();

// ---- the token ----------------------------------------------------------------------------------

/**
 * A link may carry the token in its fragment (`/console#token=…`, printed by `npm start`): the
 * fragment never reaches a server. It moves to session storage and out of the address bar at once.
 */
function takeTokenFromFragment() {
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromFragment === null || fromFragment === '') return;
  sessionStorage.setItem(TOKEN_KEY, fromFragment);
  history.replaceState(null, '', location.pathname + location.search);
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token'));
  const token = input.value.trim();
  if (token === '') return showError('Paste a token first.');
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = '';
  connect(token);
});

$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  disconnect();
  setStatus('not connected');
  $('viewer').textContent = '';
});

// ---- the connection -----------------------------------------------------------------------------

function connect(token) {
  // A tail open under the previous token goes on under this one.
  const wasTailing = tailDispose !== undefined;
  disconnect();
  showError(undefined);
  // Nothing of the previous token's audience stays on screen.
  showTopics([]);
  $('topics-empty').hidden = true;
  $('connections').textContent = '—';
  $('audience').textContent = '—';
  $('viewer').textContent = '';
  const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`;
  const current = window.graphqlWs.createClient({
    url,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 20,
    // Connected while the page is open, so the status says how the connection is, not whether a subscription happens to be running.
    lazy: false,
    // The closed handler below says what went wrong; graphql-ws would also log it to the console.
    onNonLazyError: () => {},
    // graphql-ws's default wait doubles without a ceiling; an open console should come back within seconds.
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(1_000 * 2 ** retries, 10_000) + Math.random() * 1_000)),
    on: {
      connecting: () => setStatus('connecting…'),
      connected: () => setStatus('connected', 'ok'),
      closed: (event) => {
        if (client !== current) return;
        const code = /** @type {CloseEvent} */ (event).code;
        setStatus(`closed (${code})`, 'bad');
        if (code === 4401) {
          // A refused or expired token: stop, rather than poll the server with it every 2 s.
          showError(describe(event));
          disconnect();
        } else if (CLOSE_CODES[code] !== undefined) {
          showError(describe(event));
        }
      },
    },
  });
  client = current;
  request(VIEWER).then(
    (result) => {
      if (result.errors !== undefined) return showError(describe(result.errors));
      showViewer(result.data.viewer);
      refresh();
    },
    (error) => showError(describe(error)),
  );
  startRate();
  const tailing = /** @type {HTMLInputElement} */ ($('tail-topic')).value.trim();
  if (wasTailing && tailing !== '') startTail(tailing);
}

function disconnect() {
  for (const dispose of disposers) dispose();
  disposers = [];
  tailDispose = undefined;
  const previous = client;
  client = undefined;
  // dispose() awaits the socket's connection, and rejects with its close when the server refused it (a bad token): nothing to do then.
  if (previous !== undefined) Promise.resolve(previous.dispose()).catch(() => {});
}

/** One query or mutation over the page's graphql-ws connection: resolves with its result ({data, errors}). */
function request(query, variables) {
  if (client === undefined) return Promise.reject(new Error('not connected: paste a MANAGE token and press Connect'));
  const current = client;
  return new Promise((resolve, reject) => {
    let result;
    current.subscribe({ query, variables }, { next: (value) => (result = value), error: reject, complete: () => resolve(result) });
  });
}

/** A subscription on the page's connection; returns its disposer, also kept for disconnect(). */
function subscribe(query, variables, next, error) {
  if (client === undefined) return () => {};
  const dispose = client.subscribe({ query, variables }, { next, error, complete: () => {} });
  disposers.push(dispose);
  return dispose;
}

// ---- what went wrong, with the server's code ----------------------------------------------------

/** A GraphQL error list, a close of the socket, or anything else thrown, as one line with its code. */
function describe(error) {
  if (Array.isArray(error)) return error.map((each) => (each.extensions?.code ? `${each.extensions.code}: ${each.message}` : each.message)).join('; ');
  if (error instanceof CloseEvent) {
    const name = CLOSE_CODES[error.code];
    return `${name ?? 'connection closed'} (close code ${error.code})${error.reason ? `: ${error.reason}` : ''}`;
  }
  if (error instanceof Event) return 'the WebSocket connection failed (is the gateway up?)';
  return error instanceof Error ? error.message : String(error);
}

function showError(text) {
  const element = $('error');
  element.textContent = text ?? '';
  element.hidden = text === undefined;
}

function showSectionError(id, text) {
  const element = $(id);
  element.textContent = text ?? '';
  element.hidden = text === undefined;
}

function setStatus(text, tone) {
  const element = $('status');
  element.textContent = text;
  element.dataset.tone = tone ?? '';
}

function showViewer(viewer) {
  const parts = [`audience ${viewer.audience}`, `scopes ${viewer.scopes.join(', ').toLowerCase()}`];
  if (viewer.subject) parts.push(`subject ${viewer.subject}`);
  if (viewer.topics) parts.push(`topics limited to ${viewer.topics.join(', ')}`);
  if (viewer.expiresAt) parts.push(`expires ${new Date(viewer.expiresAt).toLocaleString()}`);
  $('viewer').textContent = `Signed in: ${parts.join(' · ')}`;
  $('audience').textContent = viewer.audience;
}

// ---- topics and subscriber counts ---------------------------------------------------------------

async function refresh() {
  if (client === undefined || refreshing || document.hidden) return;
  refreshing = true;
  try {
    const result = await request(TOPICS);
    if (result.errors !== undefined) showError(describe(result.errors));
    if (result.data) {
      showTopics(result.data.topics);
      $('connections').textContent = String(result.data.connections);
    }
  } catch (error) {
    showError(describe(error));
  } finally {
    refreshing = false;
  }
}

function showTopics(topics) {
  const body = /** @type {HTMLTableSectionElement} */ (document.querySelector('#topics tbody'));
  body.replaceChildren(
    ...topics.map((topic) => {
      const row = document.createElement('tr');
      row.dataset.topic = topic.name;
      row.append(cell(topic.name), cell(String(topic.subscriberCount), 'count number'));
      return row;
    }),
  );
  $('topics-empty').hidden = topics.length > 0;
}

setInterval(() => void refresh(), REFRESH_MS);
document.addEventListener('visibilitychange', () => void refresh());

// ---- messages per second ------------------------------------------------------------------------

/** Messages this page received, by the second (epoch seconds) they arrived in. */
const perSecond = new Map();

function startRate() {
  const count = () => {
    const second = Math.floor(Date.now() / 1_000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  };
  const failed = (error) => showSectionError('rate-error', describe(error));
  // A refused subscription (no subscribe scope) answers one result carrying errors: not a message.
  const next = (result) => (result.errors === undefined ? count() : failed(result.errors));
  showSectionError('rate-error', undefined);
  subscribe(EVERY_TOPIC, undefined, next, failed);
  subscribe(BROADCASTS, undefined, next, failed);
}

/** Bars of the last CHART_SECONDS seconds, as SVG drawn here (no chart library). */
function drawChart() {
  const now = Math.floor(Date.now() / 1_000);
  for (const second of perSecond.keys()) if (second <= now - CHART_SECONDS) perSecond.delete(second);
  const [left, top, width, height] = [44, 10, 548, 120];
  const counts = [...perSecond.values()];
  const peak = Math.max(0, ...counts);
  const total = counts.reduce((sum, each) => sum + each, 0);
  const scale = niceCeiling(peak);
  const barWidth = width / CHART_SECONDS;
  const chart = $('chart');
  const shapes = [
    svg('line', { x1: left, y1: top + height, x2: left + width, y2: top + height, class: 'axis' }),
    svg('line', { x1: left, y1: top, x2: left + width, y2: top, class: 'grid' }),
    svg('text', { x: left - 6, y: top + 4, class: 'label end' }, `${scale}/s`),
    svg('text', { x: left - 6, y: top + height + 4, class: 'label end' }, '0'),
    svg('text', { x: left, y: top + height + 20, class: 'label' }, '−5 min'),
    svg('text', { x: left + width, y: top + height + 20, class: 'label end' }, 'now'),
  ];
  for (const [second, count] of perSecond) {
    const barHeight = (count / scale) * height;
    const x = left + (CHART_SECONDS - 1 - (now - second)) * barWidth;
    const bar = svg('rect', { x, y: top + height - barHeight, width: Math.max(barWidth, 1.5), height: barHeight, class: 'bar' });
    bar.dataset.second = String(second);
    bar.dataset.count = String(count);
    shapes.push(bar);
  }
  chart.replaceChildren(...shapes);
  const last = perSecond.get(now - 1) ?? 0;
  $('rate-summary').textContent = `last second ${last}/s · peak ${peak}/s · ${total} in the last 5 minutes`;
}

/** 1, 2, 5, 10, 20, 50…: the smallest at or above `value`, so the axis reads well. */
function niceCeiling(value) {
  for (let step = 1; ; step *= 10) for (const factor of [1, 2, 5]) if (factor * step >= value) return factor * step;
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

$('rate-since').textContent = openedAt.toLocaleTimeString();
drawChart();
setInterval(drawChart, 1_000);

// ---- tail ---------------------------------------------------------------------------------------

/** The last TAIL_ROWS messages of the tailed topic or pattern, newest first. */
let tailRows = [];

$('tail-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = /** @type {HTMLInputElement} */ ($('tail-topic')).value.trim();
  if (name === '') return showSectionError('tail-error', 'Name a topic or a pattern (orders/*, **).');
  startTail(name);
});

$('tail-stop').addEventListener('click', () => {
  stopTail();
  $('tail-state').textContent = 'Not tailing.';
});

function startTail(name) {
  stopTail();
  showSectionError('tail-error', undefined);
  if (client === undefined) return showSectionError('tail-error', 'Not connected: paste a MANAGE token and press Connect.');
  tailRows = [];
  renderTail();
  $('tail-state').textContent = `Tailing ${name}: the last ${TAIL_ROWS} messages, newest first.`;
  tailDispose = subscribe(
    TAIL,
    { name },
    (result) => {
      if (result.errors !== undefined) {
        showSectionError('tail-error', describe(result.errors));
        $('tail-state').textContent = `Stopped tailing ${name}.`;
        return;
      }
      tailRows = [result.data.topic, ...tailRows].slice(0, TAIL_ROWS);
      renderTail();
    },
    (error) => {
      showSectionError('tail-error', describe(error));
      $('tail-state').textContent = `Stopped tailing ${name}.`;
    },
  );
}

function stopTail() {
  tailDispose?.();
  disposers = disposers.filter((dispose) => dispose !== tailDispose);
  tailDispose = undefined;
}

function renderTail() {
  const body = /** @type {HTMLTableSectionElement} */ (document.querySelector('#tail tbody'));
  body.replaceChildren(
    ...tailRows.map((message) => {
      const row = document.createElement('tr');
      row.dataset.id = message.id;
      const time = new Date(message.publishedAt);
      row.append(
        cell(`${time.toLocaleTimeString([], { hour12: false })}.${String(time.getMilliseconds()).padStart(3, '0')}`),
        cell(message.topic ?? '(broadcast)'),
        cell(message.id, 'id'),
        cell(JSON.stringify(message.payload), 'payload'),
      );
      return row;
    }),
  );
}

// ---- publish ------------------------------------------------------------------------------------

$('publish-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const topic = /** @type {HTMLInputElement} */ ($('publish-topic')).value.trim();
  const text = /** @type {HTMLTextAreaElement} */ ($('publish-payload')).value;
  let payload;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    return showPublishResult(`The payload is not JSON: ${error instanceof Error ? error.message : String(error)}`, 'bad');
  }
  if (topic === '') return showPublishResult('Name the topic to publish to.', 'bad');
  showPublishResult('publishing…');
  request(PUBLISH, { topic, payload }).then(
    (result) => {
      if (result.errors !== undefined) return showPublishResult(describe(result.errors), 'bad');
      const { id, publishedAt } = result.data.publish;
      showPublishResult(`Published to ${topic}: id ${id} at ${new Date(publishedAt).toLocaleTimeString()}`, 'ok');
    },
    (error) => showPublishResult(describe(error), 'bad'),
  );
});

function showPublishResult(text, tone) {
  const element = $('publish-result');
  element.textContent = text;
  element.dataset.tone = tone ?? '';
}

// ---- shared -------------------------------------------------------------------------------------

/** A table cell holding text only: payloads and names are never parsed as HTML. */
function cell(text, className) {
  const element = document.createElement('td');
  element.textContent = text;
  if (className !== undefined) element.className = className;
  return element;
}

takeTokenFromFragment();
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved !== null) connect(saved);

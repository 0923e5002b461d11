import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Fanout, SubscriberErrorHandler, Target } from '../bus/fanout.js';
import type { Viewer } from '../auth/viewer.js';
import { cursorOf, isAfter, type Cursor } from '../history/cursor.js';
import type { Message } from '../publish/message.js';
import type { SubscribeService } from '../subscribe/subscribe-service.js';
import { formatErrors } from './format-errors.js';
import { compileSubscriptionEvent, type CompiledSubscriptionEvent } from '../fast-lane/subscription-event.js';
import type { ResumeFrom } from '../subscribe/resume.js';
import { cursorVariableOf } from './cursor-variable.js';
import type { Tally } from '../metrics/tally.js';
import { anchorResult } from './resume-extension.js';
import { selectsViewerDependentField } from './viewer-dependent-fields.js';

/**
 * The hot path of graphql-ws delivery. Subscriptions that would produce the same result for every
 * event share a group: the same audience, topics limit, target, document, operation name and
 * variables. A group registers once in the fan-out registry; per event it executes the document
 * once, serialises once, and writes `{"id":<its id>,"type":"next","payload":<shared JSON>}` to each
 * member synchronously. graphql-js runs once per group per event, never once per subscriber, and
 * not at all for the common shape of document, whose per-event execution is compiled when the group
 * forms (subscription-event.ts).
 *
 * Sharing is only sound when no selected field depends on the viewer (the key holds the audience and
 * topics limit, not the viewer): a selection with such a field (viewer-dependent-fields.ts) makes a
 * group of one, executed by graphql-js with its own context, never compiled.
 *
 * A member that resumes (`after`) first catches up on its own: its own registration replays what it
 * missed, rendered by the group (each kept message once, however many members replay it), then, in
 * one synchronous step between two deliveries, it becomes an ordinary member from the first group
 * message after the last one its replay sent. So a reconnect storm
 * costs history reads and writes, and afterwards the group is as shared as before. An anchored
 * member (herald/client's fresh subscription) takes the same path with a head read for a history
 * read: its anchor is written first, then nothing it would miss from that position.
 */

/** One socket's view of a subscription in a group: where to write and its frame prefix. */
export interface GroupMember {
  /** `{"id":"<operation id>","type":"next","payload":` in UTF-8 */
  readonly prefix: Buffer;
  /** Writes the frame `prefix + body` to the member's socket without waiting (the connection enforces its buffer limit). */
  readonly write: (prefix: Buffer, body: Buffer) => void;
  /** A resuming member whose gap cannot be filled: its subscription has ended with this error. */
  readonly fail: (error: unknown) => void;
}

export interface GroupSpec {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  /** The document's text, as the client sent it: part of the grouping key. */
  readonly query: string;
  readonly operationName: string | undefined;
  readonly variables: Readonly<Record<string, unknown>> | undefined;
  /** Context for the shared execution (Message fields do not depend on the caller beyond its audience). */
  readonly contextValue: unknown;
  readonly viewer: Viewer;
  readonly target: Target;
}

export interface SubscriptionGroups {
  /**
   * Adds a member to the group for `spec` (made on first use); returns the function that removes it.
   * With a cursor, the member first receives every kept message after it. With 'head', it first
   * receives its anchor (resume-extension.ts), then what its stream delivers from that position.
   */
  join(spec: GroupSpec, member: GroupMember, from?: ResumeFrom): () => void;
  /** Groups alive now (tests and metrics). */
  readonly size: number;
}

export interface SubscriptionGroupsOptions {
  /** Registers each group, with its viewer's topics limit, through the one subscribe path. */
  readonly subscriptions: SubscribeService;
  /** Told when a group's member count changes (subscriber counts). */
  readonly fanout: Pick<Fanout, 'membersChanged'>;
  readonly maskError: (error: unknown) => Error;
  /**
   * Told of a delivery that failed after the fan-out handed the message over (a resolver answering
   * asynchronously, then a write throwing); the fan-out reports synchronous failures itself.
   */
  readonly onDeliveryError: SubscriberErrorHandler;
  /** Whether a shared group may run the fast lane's compiled event; false (FAST_LANE=off) executes every event with graphql-js. Default true. */
  readonly compiled?: boolean;
  /** Counts what the groups write: once per event, by its member count. */
  readonly delivered: Tally;
}

export function createSubscriptionGroups(options: SubscriptionGroupsOptions): SubscriptionGroups {
  const { subscriptions, fanout, maskError, onDeliveryError, delivered } = options;
  const resultJson = (result: ExecutionResult): string =>
    JSON.stringify(result.errors === undefined ? result : { ...result, errors: formatErrors(result.errors, maskError) });
  const compiledAllowed = options.compiled ?? true;
  const groups = new Map<string, Group>();
  /** Per parsed document (Yoga caches them) and operation: whether its selection may be shared. */
  const shareable = new WeakMap<DocumentNode, Map<string | undefined, boolean>>();
  /** Per parsed document and operation: the variable that only carries the cursor (cursor-variable.ts), left out of the key. */
  const cursorVariables = new WeakMap<DocumentNode, Map<string | undefined, string | undefined>>();
  const cursorVariable = (spec: GroupSpec): string | undefined => {
    let byOperation = cursorVariables.get(spec.document);
    if (byOperation === undefined) cursorVariables.set(spec.document, (byOperation = new Map<string | undefined, string | undefined>()));
    if (!byOperation.has(spec.operationName)) byOperation.set(spec.operationName, cursorVariableOf(spec.document, spec.operationName));
    return byOperation.get(spec.operationName);
  };
  let unshared = 0;

  const mayShare = (spec: GroupSpec): boolean => {
    let byOperation = shareable.get(spec.document);
    if (byOperation === undefined) shareable.set(spec.document, (byOperation = new Map<string | undefined, boolean>()));
    let answer = byOperation.get(spec.operationName);
    if (answer === undefined) byOperation.set(spec.operationName, (answer = !selectsViewerDependentField(spec.schema, spec.document, spec.operationName)));
    return answer;
  };

  class Group {
    readonly members = new Set<GroupMember>();
    /** Members still replaying history on their own registration (they join `members` when caught up). */
    catchingUp = 0;
    /**
     * Members that caught up, by the last message their replay sent: each joins `members` at the
     * first group message after it. A replay can run ahead of the group's live stream (on Redis the
     * script appends to history before pub/sub reaches this instance), and what it already sent must
     * not be sent again.
     */
    readonly joining = new Map<GroupMember, Cursor>();
    /** Replayed frame bodies by message id, so a storm of members resuming from the same place renders and encodes each message once. */
    private readonly replayed = new Map<string, Buffer>();
    private readonly removeFromFanout: () => void;
    /** The per-event execution compiled for the common shape (subscription-event.ts), else graphql-js's execute. */
    private readonly compiled: CompiledSubscriptionEvent | undefined;
    /** Keeps per-topic order when a resolver answers asynchronously (none does today). */
    private pending: Promise<void> | undefined;

    constructor(
      readonly key: string,
      private readonly spec: GroupSpec,
      shared: boolean,
    ) {
      const { viewer, target } = spec;
      this.compiled = shared && compiledAllowed ? compileSubscriptionEvent(spec.schema, spec.document, spec.operationName, spec.variables) : undefined;
      this.removeFromFanout = subscriptions.open(viewer, target, {
        deliver: (message) => this.deliver(message),
        close: () => this.closeAll(),
        members: () => this.members.size + this.joining.size,
      });
    }

    deliver(message: Message): void {
      if (this.pending !== undefined)
        return this.wait(
          this.pending.then(() => this.deliverNow(message)),
          message,
        );
      const outcome = this.deliverNow(message);
      if (outcome !== undefined) this.wait(outcome, message);
    }

    /** Later events queue behind `outcome`; a failure is reported and does not stop the ones after it. */
    private wait(outcome: Promise<void>, message: Message): void {
      const settled: Promise<void> = outcome
        .catch((error: unknown) => onDeliveryError(error, message))
        .finally(() => {
          if (this.pending === settled) this.pending = undefined;
        });
      this.pending = settled;
    }

    private deliverNow(message: Message): Promise<void> | undefined {
      if (this.joining.size > 0) this.admit(message);
      // Only catching-up members: they render on their own registration.
      if (this.members.size === 0) return undefined;
      const json = this.render(message);
      if (typeof json === 'string') {
        this.writeJson(json);
        return undefined;
      }
      return json.then((settled) => this.writeJson(settled));
    }

    /** Moves into `members` each joining member that `message` is new to (messages come here in stream order). */
    private admit(message: Message): void {
      for (const [member, last] of this.joining) {
        if (!isAfter(message.id, last)) continue;
        this.joining.delete(member);
        this.members.add(member);
      }
    }

    /** The event's `payload` JSON for this group's document: compiled when it can be, else graphql-js. */
    render(message: Message): string | Promise<string> {
      const { schema, document, operationName, variables, contextValue } = this.spec;
      const json = this.compiled?.(message, contextValue);
      if (json !== undefined) return json;
      const result = execute({ schema, document, operationName, variableValues: variables, contextValue, rootValue: message });
      return isPromise(result) ? result.then(resultJson) : resultJson(result);
    }

    /** A replayed message's frame body, rendered and encoded once for every member replaying it. */
    renderReplay(message: Message): Buffer | Promise<Buffer> {
      const cached = this.replayed.get(message.id);
      if (cached !== undefined) return cached;
      const json = this.render(message);
      if (typeof json !== 'string') return json.then(frameBody);
      const body = frameBody(json);
      if (this.replayed.size >= REPLAY_CACHE_SIZE) this.replayed.delete(this.replayed.keys().next().value!);
      this.replayed.set(message.id, body);
      return body;
    }

    /** Resolves once no asynchronous delivery is under way. */
    get idle(): Promise<void> | undefined {
      return this.pending;
    }

    private writeJson(json: string): void {
      // Serialised and encoded once per group and event; every member's frame shares these bytes.
      const body = frameBody(json);
      delivered.add(this.members.size);
      // The group is one entry in the fan-out registry for many subscriptions: a member that throws
      // must not keep the message from the others. The first failure goes on to the registry's report.
      let failure: { error: unknown } | undefined;
      for (const member of this.members) {
        try {
          member.write(member.prefix, body);
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure !== undefined) throw failure.error;
    }

    /** Server shutdown: the sockets are being closed, so the members just go. */
    closeAll(): void {
      this.members.clear();
      this.joining.clear();
      this.dispose();
    }

    dispose(): void {
      this.removeFromFanout();
      if (groups.get(this.key) === this) groups.delete(this.key);
    }

    /** Removes the group once no member is left, live or catching up. */
    disposeIfEmpty(): void {
      if (this.members.size === 0 && this.joining.size === 0 && this.catchingUp === 0) this.dispose();
    }
  }

  /** A resuming (or anchored) member: replays on its own registration, then joins the group's members (see the header). */
  const catchUp = (group: Group, spec: GroupSpec, member: GroupMember, from: ResumeFrom): (() => void) => {
    let state: 'replaying' | 'live' | 'gone' = 'replaying';
    let pending: Promise<void> | undefined;
    /** The newest message the replay sent (or the anchor): the group sends this member only what comes after it. Set before caughtUp. */
    let lastSent = from === 'head' ? undefined : from;
    const writeOne = (body: Buffer): void => {
      delivered.add(1);
      member.write(member.prefix, body);
    };
    /** Writes in order: once a render answered asynchronously, later ones wait behind it. */
    const send = (message: Message): void => {
      lastSent = cursorOf(message.id);
      const body = pending === undefined ? group.renderReplay(message) : undefined;
      if (body instanceof Buffer) return writeOne(body);
      const settled: Promise<void> = (pending ?? Promise.resolve())
        .then(async () => writeOne(await (body ?? group.renderReplay(message))))
        .catch((error: unknown) => onDeliveryError(error, message))
        .finally(() => {
          if (pending === settled) pending = undefined;
        });
      pending = settled;
    };
    const leaveReplay = (): void => {
      if (state !== 'replaying') return;
      state = 'gone';
      stop();
      group.catchingUp--;
    };
    // Joins between two deliveries, once neither this member's replay nor the group has a write under way.
    const goLive = (): void => {
      if (state !== 'replaying') return;
      const busy = pending ?? group.idle;
      if (busy !== undefined) {
        void busy.then(goLive);
        return;
      }
      // lastSent is set by then: caughtUp comes after the anchor. Without one the member would take every group message.
      if (lastSent === undefined) group.members.add(member);
      else group.joining.set(member, lastSent);
      leaveReplay();
      state = 'live';
      fanout.membersChanged();
    };
    group.catchingUp++;
    const stop = subscriptions.open(
      spec.viewer,
      spec.target,
      {
        deliver: send,
        anchored(id) {
          lastSent = cursorOf(id);
          // Not a message: the anchor is said once, and counted as no delivery.
          member.write(member.prefix, frameBody(anchorResult(id)));
        },
        fail(error) {
          leaveReplay();
          group.disposeIfEmpty();
          member.fail(error);
        },
        caughtUp: goLive,
      },
      from,
    );
    return () => {
      if (state === 'replaying') leaveReplay();
      else if (state === 'live') {
        state = 'gone';
        group.members.delete(member);
        group.joining.delete(member);
        fanout.membersChanged();
      }
      group.disposeIfEmpty();
    };
  };

  return {
    join(spec, member, from) {
      const shared = mayShare(spec);
      const key = shared ? groupKey(spec, cursorVariable(spec)) : `unshared:${++unshared}`;
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = new Group(key, spec, shared)));
      if (from !== undefined) return catchUp(group, spec, member, from);
      group.members.add(member);
      fanout.membersChanged();
      const joined = group;
      return () => {
        if (!joined.members.delete(member)) return;
        if (joined.members.size === 0 && joined.joining.size === 0 && joined.catchingUp === 0) joined.dispose();
        else fanout.membersChanged();
      };
    },
    get size() {
      return groups.size;
    },
  };
}

function groupKey(spec: GroupSpec, cursorVariable: string | undefined): string {
  const { viewer, target } = spec;
  let variables = spec.variables;
  if (cursorVariable !== undefined && variables !== undefined && cursorVariable in variables) {
    const { [cursorVariable]: _cursor, ...rest } = variables;
    variables = rest;
  }
  return JSON.stringify([
    viewer.audience,
    viewer.topics ?? null,
    target.kind === 'topic' ? target.name : null,
    spec.operationName ?? null,
    spec.query,
    variables ?? null,
  ]);
}

/** Replayed renders a group remembers (a storm resumes from a few recent places, well within this). */
const REPLAY_CACHE_SIZE = 1024;

/** A `next` frame's body: the event's JSON closing the frame prefix's open `payload` object. */
const frameBody = (json: string): Buffer => Buffer.from(`${json}}`);

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> => typeof (value as { then?: unknown }).then === 'function';

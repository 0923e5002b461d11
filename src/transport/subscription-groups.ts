import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Fanout, SubscriberErrorHandler, Target } from '../bus/fanout.js';
import type { Viewer } from '../auth/viewer.js';
import type { Message } from '../publish/message.js';
import type { SubscribeService } from '../subscribe/subscribe-service.js';
import { formatErrors } from './format-errors.js';
import { compileSubscriptionEvent, type CompiledSubscriptionEvent } from '../fast-lane/subscription-event.js';
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
 */

/** One socket's view of a subscription in a group: where to write and its frame prefix. */
export interface GroupMember {
  /** `{"id":"<operation id>","type":"next","payload":` in UTF-8 */
  readonly prefix: Buffer;
  /** Writes the frame `prefix + body` to the member's socket without waiting (the connection enforces its buffer limit). */
  readonly write: (prefix: Buffer, body: Buffer) => void;
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
  /** Adds a member to the group for `spec` (made on first use); returns the function that removes it. */
  join(spec: GroupSpec, member: GroupMember): () => void;
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
}

export function createSubscriptionGroups(options: SubscriptionGroupsOptions): SubscriptionGroups {
  const { subscriptions, fanout, maskError, onDeliveryError } = options;
  const compiledAllowed = options.compiled ?? true;
  const groups = new Map<string, Group>();
  /** Per parsed document (Yoga caches them) and operation: whether its selection may be shared. */
  const shareable = new WeakMap<DocumentNode, Map<string | undefined, boolean>>();
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
        members: () => this.members.size,
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
      const { schema, document, operationName, variables, contextValue } = this.spec;
      const json = this.compiled?.(message, contextValue);
      if (json !== undefined) {
        this.writeJson(json);
        return undefined;
      }
      const result = execute({ schema, document, operationName, variableValues: variables, contextValue, rootValue: message });
      if (isPromise(result)) return result.then((settled) => this.write(settled));
      this.write(result);
      return undefined;
    }

    private write(result: ExecutionResult): void {
      this.writeJson(JSON.stringify(result.errors === undefined ? result : { ...result, errors: formatErrors(result.errors, maskError) }));
    }

    private writeJson(json: string): void {
      // Serialised and encoded once per group and event; every member's frame shares these bytes.
      const body = Buffer.from(`${json}}`);
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
      this.dispose();
    }

    dispose(): void {
      this.removeFromFanout();
      if (groups.get(this.key) === this) groups.delete(this.key);
    }
  }

  return {
    join(spec, member) {
      const shared = mayShare(spec);
      const key = shared ? groupKey(spec) : `unshared:${++unshared}`;
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = new Group(key, spec, shared)));
      group.members.add(member);
      fanout.membersChanged();
      const joined = group;
      return () => {
        if (!joined.members.delete(member)) return;
        if (joined.members.size === 0) joined.dispose();
        else fanout.membersChanged();
      };
    },
    get size() {
      return groups.size;
    },
  };
}

function groupKey(spec: GroupSpec): string {
  const { viewer, target } = spec;
  return JSON.stringify([
    viewer.audience,
    viewer.topics ?? null,
    target.kind === 'topic' ? target.name : null,
    spec.operationName ?? null,
    spec.query,
    spec.variables ?? null,
  ]);
}

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> => typeof (value as { then?: unknown }).then === 'function';

import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Fanout, Target } from '../bus/fanout.js';
import type { Viewer } from '../auth/viewer.js';
import type { Message } from '../publish/message.js';
import { formatErrors } from './format-errors.js';
import { compileSubscriptionEvent, type CompiledSubscriptionEvent } from '../fast-lane/subscription-event.js';

/**
 * The hot path of graphql-ws delivery. Subscriptions that would produce the same result for every
 * event share a group: the same audience, topics limit, target, document, operation name and
 * variables. A group registers once in the fan-out registry; per event it executes the document
 * once, serialises once, and writes `{"id":<its id>,"type":"next","payload":<shared JSON>}` to each
 * member synchronously. graphql-js runs once per group per event, never once per subscriber, and
 * not at all for the common shape of document, whose per-event execution is compiled when the group
 * forms (subscription-event.ts).
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

/** `compiled`: false (FAST_LANE=off) executes every event with graphql-js. */
export function createSubscriptionGroups(fanout: Fanout, maskError: (error: unknown) => Error, compiled = true): SubscriptionGroups {
  const groups = new Map<string, Group>();

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
    ) {
      const { viewer, target } = spec;
      this.compiled = compiled ? compileSubscriptionEvent(spec.schema, spec.document, spec.operationName, spec.variables) : undefined;
      this.removeFromFanout = fanout.add(viewer.audience, target, {
        deliver: (message) => this.deliver(message),
        ...(viewer.topics !== undefined && { accepts: viewer.allowsTopic }),
        close: () => this.closeAll(),
        members: () => this.members.size,
      });
    }

    deliver(message: Message): void {
      if (this.pending !== undefined) {
        this.pending = this.pending.then(() => this.deliverNow(message));
        return;
      }
      const outcome = this.deliverNow(message);
      if (outcome !== undefined) this.pending = outcome.finally(() => (this.pending = undefined));
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
      for (const member of this.members) member.write(member.prefix, body);
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
      const key = groupKey(spec);
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = new Group(key, spec)));
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

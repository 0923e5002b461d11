import { HeraldError } from '../errors.js';
import type { Store } from '../store/store.js';

/** REQUIRE_DECLARED_TOPICS: the topic must have been declared with createTopic in this audience (publish and subscribe both ask). */
export async function assertDeclared(store: Store, audience: string, topic: string): Promise<void> {
  if ((await store.findTopic(audience, topic)) === undefined) {
    throw new HeraldError('NOT_FOUND', `topic "${topic}" is not declared in this audience`);
  }
}

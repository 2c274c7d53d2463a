/**
 * The committed wire types (src/proto/generated/) are what `npm run gen:proto` makes from
 * proto/*.proto today: a .proto change without regeneration, or a hand edit, fails here.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATED_DIR, generateWireTypes } from '../../../scripts/gen-proto.js';
import { GEN_TYPES_FLAGS, PROTO_LOADER_OPTIONS } from '../../../src/proto/index.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'sessionraft-gen-proto-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tree(dir: string): Map<string, string> {
  const names = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => statSync(path.join(dir, name)).isFile())
    .sort();
  return new Map(names.map((name) => [name, readFileSync(path.join(dir, name), 'utf8')]));
}

describe('src/proto/generated', () => {
  it('equals a fresh proto-loader-gen-types run (run `npm run gen:proto` and commit if not)', async () => {
    await generateWireTypes(scratch);
    const fresh = tree(scratch);
    const committed = tree(GENERATED_DIR);
    expect([...committed.keys()]).toEqual([...fresh.keys()]);
    for (const [name, text] of fresh) expect(committed.get(name), name).toBe(text);
  });

  it('is generated with the loader options the code decodes with', () => {
    expect(PROTO_LOADER_OPTIONS).toEqual({ keepCase: false, longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true });
    expect(GEN_TYPES_FLAGS).toEqual(['--longs=Number', '--enums=String', '--bytes=Buffer', '--defaults', '--oneofs']);
  });
});

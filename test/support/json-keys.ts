/**
 * JSON.parse keeps the last of two equal keys and tells no one (a reviver sees the merged
 * object). This scanner walks the text itself and names every key that appears twice in one
 * object, with its path: `$.module`, `$.err.code`. It accepts exactly what JSON.parse accepts
 * (it runs JSON.parse first), so it only has to track where objects and strings begin and end.
 */
export function duplicateKeys(text: string): string[] {
  JSON.parse(text); // throws on anything that is not JSON
  const duplicates: string[] = [];
  /** One entry per open object or array: the keys seen so far (undefined for an array) and its path. */
  const stack: { keys: Set<string> | undefined; path: string }[] = [];
  let lastString = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      lastString = JSON.parse(text.slice(i, end + 1)) as string;
      i = end + 1;
      const top = stack.at(-1);
      if (top?.keys !== undefined && nextNonSpace(text, i) === ':') {
        if (top.keys.has(lastString)) duplicates.push(`${top.path}.${lastString}`);
        top.keys.add(lastString);
      }
      continue;
    }
    if (c === '{' || c === '[') {
      const parent = stack.at(-1);
      const path = parent === undefined ? '$' : parent.keys === undefined ? `${parent.path}[]` : `${parent.path}.${lastString}`;
      stack.push({ keys: c === '{' ? new Set() : undefined, path });
    } else if (c === '}' || c === ']') {
      stack.pop();
    }
    i++;
  }
  return duplicates;
}

/** Index of the closing quote of the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  throw new Error(`unterminated string at ${start}`);
}

function nextNonSpace(text: string, from: number): string | undefined {
  for (let i = from; i < text.length; i++) if (!/\s/.test(text[i]!)) return text[i];
  return undefined;
}

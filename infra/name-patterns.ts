/**
 * IAM resources for many collections at once. A role's policies are capped (10 KB inline, 6 KB per
 * managed policy, 10 managed policies), and a capture of 200 tables or a materialization of as many
 * would list 200 stream ARNs. Where a task reads or writes every collection of a folder (`acme/cdc/`),
 * one wildcard on the names of that folder's resources stands for all of them, but only where it names
 * exactly those: no other resource of the catalog may match it. Anything else stays listed one by one.
 */

/**
 * Wildcard patterns (`<name of folder>*`) for the folders of `chosen` whose every member is chosen, and
 * the rest of `chosen` by name. `nameOf` gives a collection's resource name; a folder's pattern is the
 * name of the folder itself (`nameOf('acme/cdc/')`), so `nameOf` must keep prefixes (character-wise).
 * A pattern covers only names in `all` that are chosen, and at least two of them.
 */
export function namePatterns(
  chosen: string[],
  all: string[],
  nameOf: (collectionOrFolder: string) => string,
  maxPatternLength = Number.POSITIVE_INFINITY,
): { patterns: string[]; single: string[] } {
  const want = new Set(chosen);
  const names = all.map((c) => [c, nameOf(c)] as const);
  const folders = new Set<string>();
  for (const c of want)
    for (let i = c.indexOf('/'); i >= 0 && i < c.length - 1; i = c.indexOf('/', i + 1))
      folders.add(c.slice(0, i + 1));
  const covered = new Set<string>();
  const patterns: string[] = [];
  // Shortest folders first: the widest exact pattern covers the most with one entry.
  for (const folder of [...folders].sort((a, b) => a.length - b.length || a.localeCompare(b))) {
    const pattern = nameOf(folder);
    if (pattern.length > maxPatternLength) continue;
    const matched = names.filter(([, n]) => n.startsWith(pattern)).map(([c]) => c);
    if (matched.length < 2 || !matched.every((c) => want.has(c)) || matched.every((c) => covered.has(c)))
      continue;
    patterns.push(`${pattern}*`);
    for (const c of matched) covered.add(c);
  }
  return { patterns, single: [...want].filter((c) => !covered.has(c)).sort() };
}

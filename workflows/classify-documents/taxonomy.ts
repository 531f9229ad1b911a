/** The fields the main classifier tells apart, and the sub-fields of each. */
export const TAXONOMY = {
  physics: ['quantum', 'astrophysics', 'condensed-matter'],
  math: ['algebra', 'analysis', 'probability'],
  biology: ['genetics', 'ecology', 'neuroscience'],
  'computer-science': ['machine-learning', 'systems', 'theory'],
} as const satisfies Record<string, readonly string[]>;

/** A field; also the id of its sub-field step and the name of its model file. */
export type Field = keyof typeof TAXONOMY;

/** Every field, in a fixed order. */
export const FIELDS = Object.keys(TAXONOMY) as Field[];

/** True for the names in {@link TAXONOMY}. */
export function isField(value: string): value is Field {
  return Object.hasOwn(TAXONOMY, value);
}

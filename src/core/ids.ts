import { randomBytes, randomUUID } from 'node:crypto';

/** A run id: 32 lowercase hex chars (a uuid4 without dashes), as MLflow makes them. */
export const newRunId = (): string => randomUUID().replaceAll('-', '');

/** A logged model id (MLflow 3): `m-` + 32 hex. */
export const newLoggedModelId = (): string => `m-${newRunId()}`;

const ADJECTIVES = [
  'able', 'bold', 'brave', 'bright', 'calm', 'clever', 'crisp', 'eager', 'fair', 'fast', 'gentle', 'glad',
  'grand', 'keen', 'kind', 'lively', 'lucky', 'merry', 'neat', 'nimble', 'noble', 'polite', 'proud', 'quick',
  'quiet', 'rare', 'sharp', 'shy', 'smart', 'sunny', 'swift', 'tidy', 'vast', 'warm', 'wise', 'witty',
];
const ANIMALS = [
  'ant', 'bat', 'bear', 'bee', 'cat', 'colt', 'crab', 'crow', 'deer', 'dog', 'dove', 'duck', 'eel', 'elk',
  'fish', 'foal', 'fox', 'frog', 'gnu', 'goat', 'hare', 'hawk', 'hen', 'jay', 'lark', 'lynx', 'mole', 'moth',
  'newt', 'owl', 'ox', 'ram', 'seal', 'slug', 'snail', 'stag', 'swan', 'toad', 'vole', 'wasp', 'wolf', 'yak',
];

/** A random run name in MLflow's "adjective-animal-NNN" shape. */
export function randomRunName(): string {
  const b = randomBytes(4);
  return `${ADJECTIVES[b[0] % ADJECTIVES.length]}-${ANIMALS[b[1] % ANIMALS.length]}-${b.readUInt16BE(2) % 1000}`;
}

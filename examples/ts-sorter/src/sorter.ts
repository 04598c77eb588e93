/**
 * Sorting helpers. `sortNumbers` is deliberately slow: a bubble sort.
 */

export function sortNumbers(values: readonly number[]): number[] {
  const result: number[] = values.slice();
  for (let i = 0; i < result.length; i++) {
    for (let j = 0; j < result.length - 1 - i; j++) {
      if (result[j] > result[j + 1]) {
        const swap: number = result[j];
        result[j] = result[j + 1];
        result[j + 1] = swap;
      }
    }
  }
  return result;
}

export function largest(values: readonly number[]): number {
  let best = -Infinity;
  for (const value of values) {
    if (value > best) {
      best = value;
    }
  }
  return best;
}

/**
 * Sorting helpers. `sortNumbers` is deliberately slow: a bubble sort.
 */

export function sortNumbers(values) {
  const result = values.slice();
  for (let i = 0; i < result.length; i++) {
    for (let j = 0; j < result.length - 1 - i; j++) {
      if (result[j] > result[j + 1]) {
        const swap = result[j];
        result[j] = result[j + 1];
        result[j + 1] = swap;
      }
    }
  }
  return result;
}

export function largest(values) {
  let best = -Infinity;
  for (const value of values) {
    if (value > best) {
      best = value;
    }
  }
  return best;
}

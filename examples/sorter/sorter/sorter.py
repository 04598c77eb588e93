"""Sorting the slow way: bubble sort, O(n²) comparisons on every input."""


def sort_list(arr):
    """A sorted copy of `arr`, smallest first; `arr` itself is left as it is."""
    arr = list(arr)
    n = len(arr)
    for _ in range(n):
        for j in range(n - 1):
            if arr[j] > arr[j + 1]:
                arr[j], arr[j + 1] = arr[j + 1], arr[j]
    return arr


class Sorter:
    """Sorts items in ascending order, or descending with `descending=True`; equal items keep their order."""

    def __init__(self, descending=False):
        self.descending = descending

    def sort(self, items):
        items = list(items)
        n = len(items)
        for i in range(n):
            for j in range(n - 1 - i):
                out_of_order = items[j] < items[j + 1] if self.descending else items[j] > items[j + 1]
                if out_of_order:
                    items[j], items[j + 1] = items[j + 1], items[j]
        return items

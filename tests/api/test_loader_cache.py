"""db.loaders.Loader: primed values are returned as they are, by `ready` and by `load`,
without a batch call; cleared or unknown keys go to the batch function."""
from db.loaders import Loader, ready


async def test_primed_values_are_served_without_a_batch_and_cleared_ones_are_loaded():
    asked = []

    async def batch(keys):
        asked.append(list(keys))
        return [f"loaded {k}" for k in keys]

    loader = Loader(batch)
    loader.prime_many({1: "primed 1", 2: "primed 2"})
    loader.prime(1, "not this one")  # priming again keeps the first value
    assert ready(loader, 1) == "primed 1" and await loader.load(2) == "primed 2"
    assert await loader.load_many([1, 2]) == ["primed 1", "primed 2"]
    assert asked == []
    loader.prime(1, "forced", force=True)
    assert ready(loader, 1) == "forced"

    assert await ready(loader, 3) == "loaded 3"  # not primed: the loader's awaitable
    assert ready(loader, 3) == "loaded 3"  # then cached
    loader.clear(2)
    loader.clear_many([1])
    assert await loader.load_many([1, 2]) == ["loaded 1", "loaded 2"]
    assert asked == [[3], [1, 2]]
    loader.clear_all()
    assert await loader.load(3) == "loaded 3" and asked[-1] == [3]

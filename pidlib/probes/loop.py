"""The resumable probe loop over a dataset split: samples not yet stored, prepared one batch
ahead in a worker thread, probed (:func:`pidlib.probes.rows.probe_batch`) and appended to
the run store batch by batch; donor selection for the donor probes."""
from __future__ import annotations

import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import torch

from pidlib.models.base import AdapterError
from pidlib.probes.noise import NoiseStats, sample_generator
from pidlib.probes.rows import K_MAX, ProbeItem, _option_ids, probe_batch
from pidlib.probes.scoring import DEFAULT_TAU

__all__ = ["run_probes", "donor_indices", "WRITE_SECONDS"]

#: With ``write_every``, waiting rows are written at the latest this many seconds after the
#: last write.
WRITE_SECONDS = 30.0


def donor_indices(keys: list[str], index: str, k: int, *, seed: int = 0, dataset: str = "") -> list[int]:
    """Positions in ``keys`` of the ``k`` donors of sample ``index`` (never itself).

    Drawn without replacement (with replacement when fewer than ``k`` others exist) from a
    generator keyed by ``(seed, dataset, "donors|" + index)``.
    """
    g = sample_generator(seed, dataset, f"donors|{index}")
    others = [i for i in torch.randperm(len(keys), generator=g).tolist() if keys[i] != str(index)]
    if not others:
        raise ValueError(f"sample {index!r}: no other sample to take donors from")
    if len(others) >= k:
        return others[:k]
    return [others[int(t)] for t in torch.randint(len(others), (k,), generator=g)]


def run_probes(adapter, dataset, split: str, store, *, batch_size: int = 8,
               tau: float = DEFAULT_TAU, seed: int = 0, layers: bool = False,
               noise_stats: NoiseStats, progress: bool = True, on_error: str = "raise",
               samples: list | None = None, share_prefix: bool = False, noise_draws: int = 1,
               donors: int = 0, shard: tuple[int, int] | None = None,
               prepared_cache=None, write_every: int | None = None,
               write_seconds: float = WRITE_SECONDS) -> dict:
    """Probe every sample of ``dataset`` (or ``samples``) not yet in ``store``.

    Parameters
    ----------
    adapter : pidlib.models.Adapter
    dataset : pidlib.data.MCDataset
        Its ``name`` keys the noise generator.
    split : str
        Split name (recorded; selecting the samples is the caller's job via ``samples``).
    store : pidlib.store.RunStore
        ``done()`` -> finished indices; ``append(rows)`` writes one batch atomically.
    batch_size : int
        Samples per forward (3 rows each).
    on_error : {"raise", "skip"}
        What to do with a sample whose image or prompt cannot be prepared.
    share_prefix : bool
        Full and visual-only rows share the prefix KV cache (:func:`forward_shared_prefix`).
    noise_draws : int
        Noise draws averaged per noised probe (default 1, as the paper); see
        :func:`probe_batch`.
    donors : int
        0 (default): the paper's noise probes. ``D > 0``: *donor probes* instead -- the
        visual-only probe of a sample pairs its image with the questions of D other samples
        of the run that have the same number of options, the language-only probe its
        question with their images
        (:func:`donor_indices` picks them, keyed by seed, dataset and index, so the choice
        does not depend on batching or resuming).
    prepared_cache : pidlib.models.base.PreparedCache, optional
        Samples already prepared (by the noise-statistics pass); taken from it instead of
        running the processor again.
    shard : (rank, world), optional
        Probe only the samples at positions ``rank, rank + world, ...`` of the split (one
        process of a multi-process run); donors still come from the whole split, and the
        noise of a sample is keyed by its index, so every row equals the one-process run's.
    write_every : int, optional
        Samples per stored part. Default ``None``: each batch's rows are appended before
        the next batch starts. With ``N``, rows wait in memory until ``N`` of them are
        ready or ``write_seconds`` have passed since the last write (a part is a file
        write, an fsync and a directory scan: for tiny models, more time than the forward
        of a batch). Waiting rows are written when the loop ends, also by an exception or
        Ctrl-C; a killed process (``kill -9``, power loss) loses them, at most ``N``
        samples or ``write_seconds`` of work, which a resumed run probes again.

    Inputs of the next batch (image decoding, processor) are prepared in a worker thread
    while the model runs the current one.

    Returns
    -------
    dict
        Summary: ``n_done_before``, ``n_new``, ``skipped`` [(index, problem)], ``seconds``.
    """
    from tqdm.auto import tqdm

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if int(noise_draws) < 1:
        raise ValueError(f"noise_draws must be >= 1, got {noise_draws!r}")
    if int(donors) < 0 or (donors and int(noise_draws) != 1):
        raise ValueError(f"donors must be >= 0 and excludes noise_draws > 1 (got donors={donors!r}, "
                         f"noise_draws={noise_draws!r})")
    pool = list(dataset.samples if samples is None else samples)
    if donors and len(pool) < 2:
        raise ValueError("donor probes need at least 2 samples in the split")
    # donors come from the samples with the same number of options, so that a donor probe's
    # distribution lives on the sample's own letters (a sample's k is never exceeded)
    donor_pools: dict[int, tuple[list, list[str]]] = {}
    if donors:
        for x in sorted(pool, key=lambda x: str(x.index)):
            donor_pools.setdefault(len(x.options), ([], []))
            donor_pools[len(x.options)][0].append(x)
            donor_pools[len(x.options)][1].append(str(x.index))
    all_k = [len(s.options) for s in list(dataset.samples) + pool]
    width = max(K_MAX, max(all_k, default=0))   # same width for every split of the dataset
    mine = pool
    if shard is not None:
        rank, world = int(shard[0]), int(shard[1])
        if not (world >= 1 and 0 <= rank < world):
            raise ValueError(f"shard must be (rank, world) with 0 <= rank < world, got {shard!r}")
        mine = pool[rank::world]
    done = set(map(str, store.done()))
    todo = [s for s in mine if str(s.index) not in done]
    skipped, cache, n_new, t0 = [], {}, 0, time.perf_counter()
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo),
               desc=f"probes {split}" + (f" rank {shard[0]}/{shard[1]}" if shard is not None else ""),
               unit="sample", disable=not progress)

    prepared_lru: OrderedDict = OrderedDict()   # donor mode: prepared samples, by index
    ready: dict = {}                            # prepared together by prepare_many, not yet taken

    def prep(s):
        key = str(s.index)
        if key in prepared_lru:
            prepared_lru.move_to_end(key)
            return prepared_lru[key]
        p = ready.pop(key, None)
        if p is None and prepared_cache is not None:
            p = prepared_cache.pop(key)
        if p is None:
            p = adapter.prepare(s)
        if donors:
            prepared_lru[key] = p
            if len(prepared_lru) > max(1024, 4 * batch_size * (int(donors) + 1)):
                prepared_lru.popitem(last=False)
        return p

    def crossed_item(q_sample, img_sample, index):
        """ProbeItem of (q_sample's question, img_sample's image): the prepared inputs
        crossed directly when exact (Adapter.cross_inputs), else through the processor."""
        p = adapter.cross_inputs(prep(q_sample), prep(img_sample))
        if p is None:
            p = adapter.prepare(replace(q_sample, image=img_sample.image, answer=None, index=index))
        c = ProbeItem(index, len(q_sample.options), None, p)
        c.option_ids = _option_ids(adapter, c, cache)
        return c

    def donors_of(s):
        """The donor samples of ``s`` (:func:`donor_indices`), or None when no other sample has
        its number of options."""
        donor_pool, donor_keys = donor_pools.get(len(s.options), ([], []))
        if len(donor_keys) < 2:
            return None
        return [donor_pool[j] for j in donor_indices(donor_keys, str(s.index), int(donors), seed=seed,
                                                     dataset=dataset.name)]

    def prepare_together(batch):
        """Prepare the batch's samples (and in donor mode their donors) that no cache holds
        with one :meth:`Adapter.prepare_many` call; a failure leaves them to :func:`prep`,
        which reports or skips the failing sample."""
        need = {}
        for s in batch:
            for x in [s] + ((donors_of(s) or []) if donors else []):
                key = str(x.index)
                if key not in prepared_lru and key not in ready and key not in need and \
                        (prepared_cache is None or key not in prepared_cache):
                    need[key] = x
        if len(need) > 1:
            try:
                ready.update(zip(need, adapter.prepare_many(list(need.values()))))
            except (ValueError, AdapterError):
                pass

    def prepare(batch):  # runs in a worker thread, one batch ahead of the model
        out = []            # (the tokenizer is used only here: fast tokenizers are not thread-safe)
        prepare_together(batch)
        for s in batch:
            try:
                it = ProbeItem(s.index, len(s.options), s.answer, prep(s))
                it.option_ids = _option_ids(adapter, it, cache)
                if donors:
                    ds = donors_of(s)
                    if ds is None:
                        raise AdapterError(f"sample {s.index!r} is the only one with {len(s.options)} options: "
                                           "donor probes take donors among the samples with the same number "
                                           "of options (use --on-error skip to leave it out)")
                    vis = [crossed_item(d, s, f"{s.index}|question:{d.index}") for d in ds]
                    lang = [crossed_item(s, d, f"{s.index}|image:{d.index}") for d in ds]
                    it.donors = (vis, lang)
                out.append(it)
            except (ValueError, AdapterError) as e:  # DatasetError is a ValueError
                if on_error == "skip":
                    out.append((s.index, str(e)))
                elif isinstance(e, (AdapterError,)) or type(e).__name__ == "DatasetError":
                    out.append(e)
                else:  # e.g. option letters that merge with the prompt: name the sample
                    out.append(AdapterError(f"sample {s.index!r}: {e}"))
        return out

    if write_every is not None and (isinstance(write_every, bool) or int(write_every) < 1):
        raise ValueError(f"write_every must be an integer >= 1 or None, got {write_every!r}")
    waiting: list = []          # probed rows not yet in the store
    last_write = time.monotonic()

    def write() -> None:
        nonlocal waiting, last_write, n_new
        rows, waiting = waiting, []      # emptied first: a failing append is not retried
        if rows:
            store.append(rows)
            n_new += len(rows)
        last_write = time.monotonic()

    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    try:
        with ThreadPoolExecutor(max_workers=1) as pool_ex:
            pending = pool_ex.submit(prepare, batches[0]) if batches else None
            for k, batch in enumerate(batches):
                prepared = pending.result()
                pending = pool_ex.submit(prepare, batches[k + 1]) if k + 1 < len(batches) else None
                items = []
                for x in prepared:
                    if isinstance(x, Exception):
                        if pending is not None:
                            pending.cancel()
                        raise x
                    if isinstance(x, tuple):
                        skipped.append(x)
                    else:
                        items.append(x)
                if items:
                    donor_items = [it.donors for it in items] if donors else None
                    waiting += probe_batch(adapter, items, noise_stats, seed=seed, dataset=dataset.name,
                                           tau=tau, layers=layers, width=width, share_prefix=share_prefix,
                                           noise_draws=noise_draws, donor_items=donor_items, _cache=cache)
                    if (write_every is None or len(waiting) >= int(write_every)
                            or time.monotonic() - last_write >= write_seconds):
                        write()
                bar.update(len(batch))
    finally:
        write()   # the rows probed so far, also when a later batch failed or on Ctrl-C
    bar.close()
    return {"n_done_before": len(mine) - len(todo), "n_new": n_new, "skipped": skipped,
            "seconds": time.perf_counter() - t0}

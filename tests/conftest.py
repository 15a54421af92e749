import os

import pytest
import torch

# Under pytest-xdist (`make test` runs two workers), each worker gets its share of the cores, in
# this process and in the kernels and subprocesses it starts: two torch processes that each
# spin two OpenMP threads on 2 cores run an order of magnitude slower than one.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(_threads)
    torch.set_num_threads(_threads)


@pytest.fixture(scope="session", autouse=True)
def fresh_cache(tmp_path_factory):
    """Run the tests as on a fresh machine: an empty cache (testbeds, results) per session, and
    recorded results (``unlearnkit.experiments.recorded``) written to a temporary folder.

    Set ``UNLEARNKIT_TEST_CACHE=user`` to reuse the user's cache instead (faster re-runs).
    """
    if os.environ.get("UNLEARNKIT_TEST_CACHE") == "user":
        yield None
        return
    # One cache for the session's pytest-xdist workers (the cache writes atomically and keeps the
    # first of two concurrent builds), so a testbed or model the smoke book builds on one worker
    # is not built again on the other.  Recorded results stay per worker.
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "unlearnkit-cache"
    path.mkdir(exist_ok=True)
    old = {k: os.environ.get(k) for k in ("UNLEARNKIT_CACHE", "UNLEARNKIT_RESULTS")}
    os.environ["UNLEARNKIT_CACHE"] = str(path)
    os.environ["UNLEARNKIT_RESULTS"] = str(tmp_path_factory.mktemp("recorded-results"))  # never the repo's
    yield path
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def tiny_gpt_neo(
    vocab_size: int = 37, hidden: int = 16, layers: int = 2, positions: int = 64, seed: int = 0, dtype=torch.float64
):
    """A randomly initialised GPT-Neo small enough for exact reference checks."""
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    torch.manual_seed(seed)
    config = GPTNeoConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=2,
        attention_types=[[["global"], layers]],
        intermediate_size=4 * hidden,
        max_position_embeddings=positions,
        window_size=positions,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=None,
    )
    return GPTNeoForCausalLM(config).to(dtype).eval()


def memorising_model(x: torch.Tensor, vocab_size: int, steps: int = 150, seed: int = 0, **kw):
    """A tiny GPT-Neo trained on ``x`` until it partly memorises it (float64)."""
    model = tiny_gpt_neo(vocab_size=vocab_size, seed=seed, **kw).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval()


@pytest.fixture(scope="session")
def smoke_testbed():
    from unlearnkit.models import testbed

    return testbed.build("smoke", progress=False)

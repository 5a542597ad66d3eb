"""Fine-tuning tests run torch single-threaded (see the fixture)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")  # module: it must also cover module-scoped fine-tunes
def one_torch_thread():
    """On a shared 2-core box, torch's two spinning threads made a tiny fine-tune 30x slower than one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

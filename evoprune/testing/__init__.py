"""Contract checks, in the spirit of scikit-learn's ``check_estimator``.

:func:`check_pruning_method`, :func:`check_architecture` and :func:`check_backend` run every check on a pruning
method, an architecture or a backend and raise AssertionError naming the failed check.  Run them over your own
method or network in a test::

    def test_my_method():
        check_pruning_method(MyMethod(amount=0.2))
"""

from .architecture import architecture_data, check_architecture
from .backends import check_backend
from .pruning import check_pruning_method, contract_architectures, conv_architecture

__all__ = ["check_pruning_method", "contract_architectures", "conv_architecture", "check_architecture",
           "architecture_data", "check_backend"]

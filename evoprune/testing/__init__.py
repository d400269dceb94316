"""Contract checks, in the spirit of scikit-learn's ``check_estimator``.

:func:`check_pruning_method` runs every check on a pruning method (a class or an instance) and
raises AssertionError naming the method and the failed check; :func:`check_architecture` does the
same for an architecture (stacked training equals single training, masks stay zero, pruning works,
export round-trips), and :func:`check_backend` for a backend (each against torch's modules and Adam).
Run them over your own method or network in a test::

    def test_my_method():
        check_pruning_method(MyMethod(amount=0.2))
"""

from .architecture import architecture_data, check_architecture
from .backends import check_backend
from .pruning import check_pruning_method, contract_architectures, conv_architecture

__all__ = ["check_pruning_method", "contract_architectures", "conv_architecture", "check_architecture",
           "architecture_data", "check_backend"]

"""Claims of the paper that need no SGD: Theorem 1 (expressivity), Section 5 (min-norm linear
and kernel interpolation, SGD's implicit minimum norm), empirical Rademacher complexity."""

"""What a run says it ran on: the CPU's vector extensions, which change its speed several-fold and
its float results at one seed, are named beside the CPU (two EPYC hosts under KVM both report
'AMD EPYC', one with AVX2 only, one with AVX-512 and bf16 dot products)."""
import pytest

from rethinking import host

ZEN3 = "fpu sse sse2 avx f16c fma avx2 bmi2 sha_ni"
EPYC_AVX512_BF16 = ZEN3 + " avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni"
XEON_AMX = EPYC_AVX512_BF16 + " amx_bf16 amx_tile amx_int8"


@pytest.mark.parametrize("flags, expected", [
    (ZEN3, "AVX2"),
    (EPYC_AVX512_BF16, "AVX-512/BF16"),
    (XEON_AMX, "AVX-512/BF16/AMX"),
    ("fpu sse sse2 avx", ""),
    ("", ""),
])
def test_the_widest_vector_unit_and_the_bf16_units_are_named(flags, expected):
  assert host.cpu_isa(flags) == expected


def test_the_cpu_description_names_this_hosts_extensions(tmp_path, monkeypatch):
  cpuinfo = tmp_path / "cpuinfo"
  cpuinfo.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {EPYC_AVX512_BF16}\n\n"
                     f"processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: {EPYC_AVX512_BF16}\n")
  real_open = open
  monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
      cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
  monkeypatch.setattr(host.os, "cpu_count", lambda: 2)
  assert host.cpu_description() == "CPU: AMD EPYC (2 cores; AVX-512/BF16)"

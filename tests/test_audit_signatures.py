"""`info_items`/`item_values`: INFO keys and the `cohorts_called` value, as the regexes
they replace found them (values cut at the first `=` of an item, flags without a value)."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from europanel.stages.audit import info_items, item_values

INFOS = [
    "AC=3;AN=8;country_het;cohorts_called=DE,NL",
    ".",
    "",
    "x=a=b;AC_NL=;cohorts_called=ES=1;cohorts_called=IT",
    "AF=0.5;;flag;=v;AC_DE=1;",
    "cohorts_called;notcohorts_called=FI;cohorts_called_x=1",
    "AN_ÄÖ=1;cohorts_called=ü,DE",
]


def regex_keys(text: str) -> set:
    signature = pc.replace_substring_regex(pa.array([text]), "=[^;]*", "=")[0].as_py()
    return {item[:-1] for item in signature.split(";") if item.endswith("=")}


def test_keys_and_values_as_the_regexes_found_them():
    for infos in (INFOS, INFOS[1:3], INFOS[3:], []):
        info = pa.array(infos, pa.string())
        record, codes, keys, has_value, flat = info_items(info)
        found = [set() for _ in infos]
        for r, c, v in zip(record, codes, has_value):
            if v:
                found[r].add(keys[c])
        assert found == [regex_keys(text) for text in infos]
        called = item_values(len(infos), record, codes, keys, has_value, flat, "cohorts_called")
        expected = pc.struct_field(
            pc.extract_regex(info, r"(?:^|;)cohorts_called=(?P<value>[^;]*)"), [0]
        )
        assert called.to_pylist() == expected.to_pylist()


def test_sliced_input():
    info = pa.array(INFOS, pa.string()).slice(2, 4)
    record, codes, keys, has_value, flat = info_items(info)
    assert np.array_equal(np.unique(record), np.arange(4))
    called = item_values(4, record, codes, keys, has_value, flat, "cohorts_called")
    assert called.to_pylist() == [None, "ES=1", None, None]

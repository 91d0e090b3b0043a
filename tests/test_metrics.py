import numpy as np
import pytest

from affectstream.train.metrics import accuracy, ccc, icc3_1, macro_f1, mae, pcc, rmse


def test_ccc_by_hand():
    # x = [1, 2, 3], y = [2, 3, 5]: means 2 and 10/3; var x = 2/3, var y = 14/9; cov = 1
    expected = 2 * 1 / (2 / 3 + 14 / 9 + (2 - 10 / 3) ** 2)
    assert ccc([1, 2, 3], [2, 3, 5]) == pytest.approx(expected)
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1)
    assert ccc([1, 2, 3], [11, 12, 13]) < 0.1  # correlated but far off: CCC punishes the bias


def test_pcc_mae_rmse_by_hand():
    assert pcc([1, 2, 3], [2, 3, 5]) == pytest.approx(1 / np.sqrt(2 / 3 * 14 / 9))
    assert pcc([1, 2, 3], [5, 5, 5]) == 0
    assert mae([0, 0, 0, 0], [1, -1, 2, 0]) == pytest.approx(1.0)
    assert rmse([0, 0, 0, 0], [1, -1, 2, 0]) == pytest.approx(np.sqrt(6 / 4))


def test_icc31_by_hand():
    # Shrout & Fleiss ICC(3,1) for two raters over 4 targets, worked by hand:
    # rows means 1.5, 3.5, 5, 8 (grand 4.5); SS_rows = 2·(9+1+0.25+12.25) = 45; col means 4, 5:
    # SS_cols = 4·0.5 = 2
    # SS_total = Σ(r − 4.5)² = 12.25+2.25+0.25+6.25 + 6.25+0.25+0.25+20.25 = 48
    # → SS_err = 48 − 45 − 2 = 1
    # MS_rows = 45/3 = 15, MS_err = 1/3 → ICC = (15 − 1/3)/(15 + 1/3)
    x, y = [1, 3, 5, 7], [2, 4, 5, 9]
    assert icc3_1(x, y) == pytest.approx((15 - 1 / 3) / (15 + 1 / 3))
    # consistency ignores a constant offset
    assert icc3_1([1, 2, 3], [3, 4, 5]) == pytest.approx(1.0)


def test_accuracy_and_macro_f1_by_hand():
    true, pred = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    assert accuracy(true, pred) == pytest.approx(0.6)
    # class 0: tp1 fp1 fn1 → 0.5; class 1: tp2 fp1 fn0 → 0.8; class 2: tp0 fn1 → 0
    assert macro_f1(true, pred) == pytest.approx((0.5 + 0.8 + 0) / 3)


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError):
        ccc([1, 2], [1, 2, 3])

"""The compiled kernel's data layout: where each parameter, state value and output column sits in the
integer and float arrays the kernel reads and writes, and its codes.

``fast_plan`` writes the parameters, the kernel modules (``fast_market``, ``fast_risk``,
``fast_kernel``) read them, ``fast_plan`` and ``fast_result`` read the state and the output. numba
freezes these constants into the compiled code, so this module is one of the kernel's sources whose
fingerprint keys numba's disk cache (``fast_jit``). Free of numba.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Bars = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]  # open time (ns), o, h, l, c, v

# --- integer parameters (``fast_plan`` fills them) ---------------------------------------------------
P_SPAN, P_AVG_MS, P_DAY0, P_LOT_UB, P_TSQ = 0, 1, 2, 3, 4
P_FEEB_NUM, P_FEEB_DEN, P_FEEB_SCALE, P_FEEQ_NUM, P_FEEQ_DEN, P_FEEQ_SCALE = 5, 6, 7, 8, 9, 10
P_BUDGET_NUM, P_BUDGET_DEN, P_QMAX, P_MSTEP = 11, 12, 13, 14
P_LOT_MIN, P_LOT_MAX, P_MLOT, P_MLOT_MIN, P_MLOT_MAX = 15, 16, 17, 18, 19
P_NCHK, P_NCHK0 = 20, 21  # notional checks: count, then (kind, bound, code) triplets at 21..29
P_MAXORD_FAIL, P_MN_MARKET, P_NEED_LOT, P_W_NUM, P_W_DEN, P_G_NUM, P_G_DEN = 30, 31, 32, 33, 34, 35, 36
P_MON, P_DUST, P_COOL_NS, P_ONE_POS, P_DEPOSIT, P_STEP_NUM, P_STEP_EXP = 37, 38, 39, 40, 41, 42, 43
P_DBASE_NUM, P_DBASE_DEN, P_DCAP_NUM, P_DCAP_DEN = 44, 45, 46, 47
# the replay model (``fast_plan.replay_params``): points, volume parts, quote ticks, then per point (up to
# MAX_POINTS) its time after the bar's open at this run's span (ns), the rising and the falling columns
P_NPOINTS, P_PARTS, P_QTICKS = 48, 49, 50
MAX_POINTS = 8
P_OFF0, P_RISE0, P_FALL0 = 51, 51 + MAX_POINTS, 51 + 2 * MAX_POINTS
N_PARAMS = 51 + 3 * MAX_POINTS
# --- float parameters ----------------------------------------------------------------------------
F_TICK, F_BASE_BPS, F_CAP_BPS, F_REF_RANGE, F_LOSS_CAP, F_TRADED, F_PER_TICK = 0, 1, 2, 3, 4, 5, 6
N_FLOAT_PARAMS = 7
# --- state: integers, then floats ----------------------------------------------------------------
S_POS, S_QUOTE, S_ROPEN, S_RQTY, S_DUST, S_KILL, S_DAY, S_HASCOOL, S_COOL = 0, 1, 2, 3, 4, 5, 6, 7, 8
S_OID, S_TID, S_NOUT, S_BAIL, S_BAIL_ROW, S_SIGNALS, S_SUBMITTED, S_FILLED = 9, 10, 11, 12, 13, 14, 15, 16
S_REJ_FILTER, S_REJ_BALANCE, S_DENIED = 17, 18, 19  # denials by code from S_DENIED + 1
N_STATE = 34
X_RCOST, X_RREAL, X_DUSTCOST, X_TODAY, X_TODAY_SCALE, X_RSCALE = 0, 1, 2, 3, 4, 5
N_FLOAT_STATE = 6
# --- the bars: (open time in ns, open, high, low, close, volume), as OHLCV holds them ------------------
M_T, M_O, M_H, M_L, M_C, M_V = 0, 1, 2, 3, 4, 5
# --- one output row per order the venue accepted --------------------------------------------------
O_ROW, O_SIDE, O_QTY, O_FILL, O_PRICE, O_FEE, O_OID, O_TID = 0, 1, 2, 3, 4, 5, 6, 7
N_OUT = 8
# --- denial codes (``fast_plan.DENIAL_NAMES``) -------------------------------------------------------
C_EXIT, C_KILL, C_INSUFF, C_LOT, C_MLOT, C_NOTIONAL, C_MIN_NOTIONAL = 1, 2, 3, 4, 5, 6, 7
C_MAXORD, C_DAILY, C_COOL, C_DUP, C_ORDER_NOTIONAL = 8, 9, 10, 11, 12
# --- why the kernel stopped (``fast_plan.BAIL_REASONS``) ---------------------------------------------
B_SLIPPAGE, B_PNL, B_VOLUME, B_LEDGER, B_SIZING, B_PRICE, B_EXIT = 1, 2, 3, 4, 5, 6, 7

NS_PER_MS = 1_000_000
NS_PER_DAY = 86_400 * 1_000_000_000
MAXI = 1 << 62
BAD = -(1 << 62)  # "cannot say exactly" from the integer helpers
REL_TOL = 1e-9  # a float decides only when clear of its boundary by this share of the magnitudes
POW10 = np.array([10.0**i for i in range(23)])  # exact doubles

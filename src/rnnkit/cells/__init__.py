"""Recurrent cells: one time step each, ``cell(x_t, state) -> (h_t, state)``."""

from rnnkit.cells.base import RecurrentCell
from rnnkit.cells.state import LSTMState, State, map_state, state_output

__all__ = ["LSTMState", "RecurrentCell", "State", "map_state", "state_output"]

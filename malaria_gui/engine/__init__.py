"""The Qt-free engine: discovery, decoding, preprocessing, model, scoring, metrics, exports.

The GUI, the command line and the tests all call these modules; nothing here imports Qt.
"""

"""Open Inference Protocol (KServe "V2") adapter: ``codec`` turns its bodies into arrays and back.

Kept at the edge: the V2 types stop here; the routes call the same prediction ``/predict`` uses.
"""

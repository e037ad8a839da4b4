"""The service layer: what the routes do, without HTTP (routes parse, call one function, answer).

``datasets`` parses uploads and builds datasets, ``jobs`` checks and queues training jobs,
``models`` answers predict and boundary requests from stored models and job snapshots.
"""

"""The live pipeline: ingest → compose → encode once → broadcast.

Imports nothing from http/ or store/.
"""

"""Many inputs at once: jobs, the engines that run them (in this process, a pool of worker
processes, Ray actors), the manifest that makes a batch resumable, and one progress display.

Nothing heavy is imported here: a pool worker caps its native threads before NumPy loads.
"""

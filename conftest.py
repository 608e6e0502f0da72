import os

# Progress bars are for people; keep test logs short.
os.environ.setdefault("REGCOURSE_NO_PROGRESS", "1")

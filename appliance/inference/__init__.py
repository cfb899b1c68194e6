"""Model inference in supervised worker processes, apart from call control.

Native model code (llama.cpp, CTranslate2, onnxruntime, Piper) runs in child processes
(`server`); the service process holds only proxies (`proxies`) with the engines' own
interfaces, over a pipe (`client`). A worker that crashes or hangs is restarted with
back-off, and the calls that were using it are told (`health`), so a caller is never left
in silence. `selftest` exercises every model the way calls use it before the appliance
reports ready.
"""

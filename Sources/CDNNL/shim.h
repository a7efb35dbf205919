#ifndef GANNET_CDNNL_SHIM_H
#define GANNET_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
#endif

import CDNNL

/// The oneDNN library in use: its version and the instruction set it dispatches to.
public enum Library {
    /// `2.6.0`, with the source hash when the build records one.
    public static var version: String {
        guard let info = dnnl_version()?.pointee else { return "unknown" }
        return "\(info.major).\(info.minor).\(info.patch)"
    }

    /// The widest instruction set oneDNN's kernels use on this CPU (`dnnl_get_effective_cpu_isa`),
    /// in oneDNN's spelling: `avx2`, `avx512_core`, `avx512_core_bf16`, `avx512_core_amx` …
    public static var instructionSet: String {
        let isa = dnnl_get_effective_cpu_isa()
        return switch isa {
        case dnnl_cpu_isa_sse41: "sse41"
        case dnnl_cpu_isa_avx: "avx"
        case dnnl_cpu_isa_avx2: "avx2"
        case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
        case dnnl_cpu_isa_avx512_core: "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
        default: otherInstructionSet(isa)
        }
    }

    #if ONEDNN3
    private static func otherInstructionSet(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_avx2_vnni_2: "avx2_vnni_2"
        case dnnl_cpu_isa_avx512_core_fp16: "avx512_core_fp16"
        case dnnl_cpu_isa_avx512_core_amx_fp16: "avx512_core_amx_fp16"
        default: "isa 0x\(String(isa.rawValue, radix: 16))"
        }
    }
    #else
    private static func otherInstructionSet(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_avx512_mic: "avx512_mic"
        case dnnl_cpu_isa_avx512_mic_4ops: "avx512_mic_4ops"
        case dnnl_cpu_isa_all: "all"
        default: "isa 0x\(String(isa.rawValue, radix: 16))"
        }
    }
    #endif
}

extension Library {
    /// Whether the CPU computes bfloat16 natively (`avx512_bf16` or AMX): where mixed
    /// precision is faster than float32. oneDNN emulates bfloat16 on other AVX-512 CPUs
    /// (several times slower than float32) and has no bfloat16 kernels on AVX2.
    public static var hasNativeBFloat16: Bool {
        let isa = dnnl_get_effective_cpu_isa()
        #if ONEDNN3
        // Every ISA from avx512_core_bf16 up includes its bits (oneDNN's ISAs nest).
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return isa.rawValue & bf16 == bf16
        #else
        return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx
        #endif
    }
}

import TensorCore

/// What an operator must do with one of its outputs or input gradients (MXNet's `OpReqType`).
public enum Request: Sendable, Equatable {
    /// Nothing is needed (`kNullOp`).
    case skip
    /// Overwrite the destination (`kWriteTo`).
    case write
    /// Overwrite a destination that shares memory with an input (`kWriteInplace`).
    case inPlace
    /// Add the result to what the destination holds (`kAddTo`): how gradients of a
    /// tensor read by several nodes are summed without extra buffers.
    case add
}

/// A shape-inference or attribute error, naming the node at fault.
public struct OperatorError: Error, CustomStringConvertible, Sendable {
    public let node: String
    public let message: String

    public init(node: String, _ message: String) {
        self.node = node
        self.message = message
    }

    public var description: String { "node '\(node)': \(message)" }
}

/// The shapes of every argument, output and auxiliary state of one node.
public struct NodeShapes: Sendable, Equatable {
    /// In the definition's `argumentNames` order (data first).
    public var arguments: [Shape]
    /// In `outputNames` order, hidden outputs included.
    public var outputs: [Shape]
    /// In `auxiliaryNames` order.
    public var auxiliary: [Shape]
    /// Physical layouts the kernel receives (empty: all plain). Set by the executor.
    public var argumentLayouts: [TensorLayout] = []
    public var outputLayouts: [TensorLayout] = []
    /// Element types of the arguments and outputs (empty: all float32). Set by the executor.
    public var argumentTypes: [DataType] = []
    public var outputTypes: [DataType] = []
    /// The type the network computes in (`bfloat16` under mixed precision): what weights
    /// are converted to for the primitive. Set by the executor.
    public var computeType: DataType = .float32

    public init(arguments: [Shape], outputs: [Shape], auxiliary: [Shape] = []) {
        self.arguments = arguments
        self.outputs = outputs
        self.auxiliary = auxiliary
    }
}

/// Which tensors of the forward pass the backward pass reads, so the memory planner can
/// free everything else early.
public struct BackwardDependencies: Sendable, Equatable {
    /// Indices into the arguments.
    public var inputs: [Int]
    /// Indices into the outputs (hidden outputs included).
    public var outputs: [Int]
    /// Whether backward reads the gradients of the visible outputs (SoftmaxOutput does not).
    public var readsOutputGradients: Bool

    public init(inputs: [Int] = [], outputs: [Int] = [], readsOutputGradients: Bool = true) {
        self.inputs = inputs
        self.outputs = outputs
        self.readsOutputGradients = readsOutputGradients
    }
}

/// What one input of an operator is for. Each operator declares the role of every input it
/// creates, so that the graph answers "is this a learned parameter?" (weight decay,
/// initialisation, gradients, broadcast, checkpoints) without reading names.
public enum ArgumentRole: String, Sendable, CaseIterable {
    /// Activations; as a variable, a network input (MXNet's `data_names`).
    case data
    /// Targets of a loss head; as a variable, a network input (MXNet's `label_names`).
    case label
    case weight, bias, gamma, beta
    /// BatchNorm's auxiliary states: updated in training, not learned by gradients.
    case movingMean = "moving_mean"
    case movingVariance = "moving_var"

    /// Fed by the user each batch (data and labels), not owned by the model.
    public var isInput: Bool { self == .data || self == .label }
    /// Learned by gradient descent.
    public var isLearned: Bool { self == .weight || self == .bias || self == .gamma || self == .beta }
    /// Under weight decay (MXNet 1.x decays `*_weight` and `*_gamma` only).
    public var decays: Bool { self == .weight || self == .gamma }
}

/// Whether an operator's kernel takes its 4-D arguments in oneDNN's blocked layout
/// (`TensorLayout.blocked`), asked by the executor's layout phase.
public enum BlockedLayoutSupport: Sendable, Equatable {
    /// Plain NCHW only.
    case none
    /// Blocked activations written by other operators.
    case activations
    /// Blocked activations and plain network inputs as well (a convolution reads the
    /// network's `data` as it is and writes blocked).
    case activationsAndInputs
    /// Either layout, written in the layout of its input (a type conversion): the converted
    /// network input stays a plain network input.
    case followsInput
}

/// The graph-time half of an operator: typed parameters parsed from MXNet's attribute
/// strings, argument and output names, shape inference, backward dependencies, in-place
/// options and the factory of its run-time kernel.
public protocol OperatorDefinition: Sendable {
    /// MXNet's operator name (`"Convolution"`), the `op` field of symbol JSON.
    static var mxnetName: String { get }

    /// Parses MXNet attributes (`["kernel": "(3, 3)", "num_filter": "64"]`); errors name `node`.
    init(attributes: [String: String], node: String) throws(OperatorError)

    /// Arguments in MXNet's `list_arguments` order for this node (`data`, `weight`, `bias`).
    var argumentNames: [String] { get }
    /// The role of each argument, in `argumentNames` order.
    var argumentRoles: [ArgumentRole] { get }
    /// Auxiliary states (`moving_mean`, `moving_var`); empty for most operators.
    var auxiliaryNames: [String] { get }
    /// The role of each auxiliary state, in `auxiliaryNames` order.
    var auxiliaryRoles: [ArgumentRole] { get }
    /// Every output, hidden ones last (BatchNorm: output, mean, var).
    var outputNames: [String] { get }
    /// How many leading outputs a user sees (1 for all seed operators).
    var visibleOutputCount: Int { get }

    /// Fills the shapes of weights, biases, gammas and auxiliary states from the data shape.
    /// A known argument shape that disagrees with the inferred one is an error naming the
    /// node, the argument and both shapes.
    func inferShapes(_ arguments: [Shape?], node: String) throws(OperatorError) -> NodeShapes

    var backwardDependencies: BackwardDependencies { get }

    /// Pairs (argument, output) whose memory the output may reuse in the forward pass.
    var inPlaceOptions: [(argument: Int, output: Int)] { get }

    /// Pairs (output gradient, argument gradient) whose memory the argument's gradient may
    /// take over in backward when it is the first to write it (a sum passes its output
    /// gradient through unchanged, so that argument's gradient costs no copy).
    var backwardInPlaceOptions: [(outputGradient: Int, argumentGradient: Int)] { get }

    /// Whether running forward again is cheap and gives the same outputs, so that the
    /// executor's mirror may recompute them in the gradient pass instead of keeping them.
    var isCheapToRecompute: Bool { get }

    /// The element type of this operator's activations (arguments in a data role, and its
    /// outputs) when the network computes in `compute`: `compute` for operators whose
    /// kernels run in reduced precision, float32 for the others (the default). The executor
    /// converts an activation whose producer and consumer disagree (`Symbol.castForPrecision`).
    func activationType(computing compute: DataType) -> DataType

    /// The type of each output for `activationType` `type` (hidden statistics may stay float32).
    func outputTypes(activationType type: DataType) -> [DataType]

    /// Whether the operator reads activations of any type as they are (a type conversion),
    /// so that no conversion is put in front of it.
    var acceptsEveryActivationType: Bool { get }

    /// Whether the kernel for these shapes takes blocked 4-D arguments.
    func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport

    /// Floating-point operations of one forward pass over the whole batch (a multiply-add
    /// counts 2); 0 for operators whose cost is memory traffic, not arithmetic.
    func forwardFlops(_ shapes: NodeShapes) -> Double

    /// Inference fusion: one definition computing this operator and then `next`, which reads
    /// this operator's output 0 as its argument 0; nil when the two do not fuse. The fused
    /// node takes this node's arguments, `next`'s other arguments, then the auxiliary states
    /// of both.
    func fusedForInference(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)?

    /// Training fusion: one definition computing this operator and then `next` in both
    /// passes (gradients included), as `fusedForInference(followedBy:)`; nil by default.
    func fusedForTraining(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)?

    /// Builds the kernel for these shapes (primitives are created here, once).
    func makeKernel(shapes: NodeShapes, context: KernelContext) throws -> any OperatorKernel

    /// The plain reference forward pass: all outputs from the arguments. `auxiliary` is
    /// read (inference) and, where MXNet does so in forward, updated.
    func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]]

    /// The plain reference backward pass: the gradient of every argument (zeros where none
    /// flows, e.g. labels). `outputGradients` holds one array per visible output.
    func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]]
}

extension OperatorDefinition {
    /// Operators without parameters read activations only.
    public var argumentRoles: [ArgumentRole] { argumentNames.map { _ in .data } }
    public var auxiliaryNames: [String] { [] }
    public var auxiliaryRoles: [ArgumentRole] { [] }
    public var outputNames: [String] { ["output"] }
    public var visibleOutputCount: Int { 1 }
    public var inPlaceOptions: [(argument: Int, output: Int)] { [] }
    public var backwardInPlaceOptions: [(outputGradient: Int, argumentGradient: Int)] { [] }
    public var isCheapToRecompute: Bool { false }
    public func activationType(computing compute: DataType) -> DataType { .float32 }
    public func outputTypes(activationType type: DataType) -> [DataType] { outputNames.map { _ in type } }
    public var acceptsEveryActivationType: Bool { false }
    public func blockedLayoutSupport(_ shapes: NodeShapes) -> BlockedLayoutSupport { .none }
    public func forwardFlops(_ shapes: NodeShapes) -> Double { 0 }
    public func fusedForInference(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)? { nil }
    public func fusedForTraining(followedBy next: any OperatorDefinition) -> (any OperatorDefinition)? { nil }
}

/// 2 · (multiply-adds per output value) · output values, for operators whose argument 1 is a
/// weight of shape (outputs, inputs per group, kernel…): convolutions and FullyConnected.
func weightedSumFlops(_ shapes: NodeShapes) -> Double {
    let weight = shapes.arguments[1]
    return 2 * Double(weight.elementCount / max(weight[0], 1)) * Double(shapes.outputs[0].elementCount)
}

/// Checks a known argument shape against the inferred one.
func expectShape(_ given: Shape?, _ inferred: Shape, argument: String, node: String) throws(OperatorError) {
    if let given, given != inferred {
        throw OperatorError(node: node, "argument '\(argument)' has shape \(given) but \(inferred) is required")
    }
}

/// Returns the data shape (argument 0) or fails naming the node.
func requireDataShape(_ arguments: [Shape?], node: String, rank: Int? = nil) throws(OperatorError) -> Shape {
    guard let first = arguments.first, let data = first else {
        throw OperatorError(node: node, "the shape of 'data' is unknown")
    }
    if let rank, data.rank != rank {
        throw OperatorError(node: node, "'data' must have rank \(rank), got shape \(data)")
    }
    return data
}

/// An operator whose value is its input's (a change of shape, layout or element type): the
/// reference passes values and gradients through. For Cast the reference is the exact
/// value, the converted tensor is within bfloat16's rounding of it.
public protocol ValuePreserving: OperatorDefinition {}

extension ValuePreserving {
    public func referenceForward<T: BinaryFloatingPoint & Sendable>(
        _ arguments: [[T]], auxiliary: inout [[T]], shapes: NodeShapes, isTraining: Bool
    ) -> [[T]] {
        [arguments[0]]
    }

    public func referenceBackward<T: BinaryFloatingPoint & Sendable>(
        outputGradients: [[T]], arguments: [[T]], outputs: [[T]], auxiliary: inout [[T]],
        shapes: NodeShapes
    ) -> [[T]] {
        [outputGradients[0]]
    }
}

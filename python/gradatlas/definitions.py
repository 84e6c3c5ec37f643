"""What every reported quantity means: the one place the losses and norms are defined.

``LOSSES`` and ``QUANTITIES`` are exported and copied into the attributes of
every Dataset that gradatlas returns, so a result on disk explains itself.
"""

from __future__ import annotations

LOSSES: dict[str, str] = {
    "projection": (
        "l_b = u_b . a_L^(b) with u_b a standard normal vector drawn from the generator "
        "(stream 'projections'), the same for every configuration of a seed. The gradient "
        "entering the network, dl_b/da_L = u_b, is independent of the network, as "
        "mean-field theory assumes. The default."
    ),
    "sum_squares": (
        "l_b = 1/2 |a_L^(b)|^2, so dl_b/da_L = a_L^(b). The output gradient is correlated "
        "with the network's Jacobian, which shifts the measured rate (notably in residual nets)."
    ),
}

QUANTITIES: dict[str, str] = {
    "log10_grad_norm": (
        "mean over the batch of log10 |dl_b/dh_l^(b)|, the per-sample gradient norm with respect "
        "to the pre-activation h_l (before normalization). With batch norm, where samples "
        "interact, it is the row b of the gradient of sum_b' l_b'. Computed in log space: exact "
        "far below the float range."
    ),
    "log10_grad_norm_rms": "log10 of the root-mean-square over the batch of the same norms.",
    "log10_weight_grad_norm": (
        "log10 |dl/dW_l|_F for the batch-mean loss l = (1/B) sum_b l_b, computed from the "
        "Gram matrices of the gradients and of a_{l-1} (no outer product is formed)."
    ),
    "q": "mean over batch and units of h_l^2 (pre-activation, before normalization).",
    "c": "mean over pairs of samples b < b' of the cosine between h_l^(b) and h_l^(b').",
    "saturated_fraction": "fraction of units of the batch with |phi'(N(h_l))| < 1e-3.",
    "dead_fraction": "fraction of units of the batch with phi'(N(h_l)) == 0.",
    "first_nonfinite_layer": (
        "first layer where the forward pass (h_l) holds inf/NaN; if the forward pass is finite, "
        "the first layer reached by the backward pass (from layer L down) whose gradient is "
        "inf/NaN; -1 when everything stayed finite. Positively homogeneous networks (linear, relu, "
        "leaky_relu without bias or normalization) are computed with an exact forward scale and never "
        "overflow here; for them this is the layer where the float network itself would overflow."
    ),
    "nonfinite_kind": "'' or one of 'forward_overflow', 'forward_nan', 'backward_overflow', 'backward_nan'.",
    "total_log10_ratio": "log10_grad_norm at layer 1 minus at layer L (negative: vanishing).",
    "log10_rate": (
        "least-squares decades per layer by which log10_grad_norm changes going from the output "
        "towards the input (negative: vanishing); comparable to predicted_log10_rate = log10(chi1)/2."
    ),
    "depth_scale": "1 / |2 ln(10) log10_rate|: layers over which the squared gradient norm changes by e.",
    "regime": (
        "'nonfinite' when first_nonfinite_layer >= 1; otherwise 'vanishing' / 'exploding' when "
        "total_log10_ratio is below -1 / above +1 decade, else 'stable'."
    ),
    "chi1": "mean-field sigma_w^2 E[phi'(sqrt(q*) z)^2] of the configuration (see gradatlas.theory).",
    "predicted_log10_rate": "mean-field decades per layer along this network's depth (per-layer profile averaged).",
    "predicted_log10_grad_norm": (
        "mean-field log10 |dl/dh_l| per layer, anchored to the measured value at layer L. In residual "
        "nets with a non-negative branch output (relu, gelu, silu...) the stream gains a common mode that "
        "mean field leaves out: there it underestimates the growth toward the input (README, 'Finite width')."
    ),
    "predicted_q": "mean-field q_l per layer from the length map started at the input variance q0.",
    "finite_width_log10_grad_norm": (
        "plain MLPs (no residual, no norm): the finite-width prediction of log10_grad_norm, anchored at "
        "layer L as predicted_log10_grad_norm is; each layer back adds the expected change of the log of "
        "the squared gradient norm to order 1/width, ln(sigma_w^2 D) - v/2 with v = (3 K/D^2 - 1)/n "
        "(orthogonal weights: 3 (K/D^2 - 1)/n), D = E[phi'^2], K = E[phi'^4] at the layer's own q "
        "(gradatlas.theory.finite_width_step; the README derives it). NaN where it does not apply."
    ),
    "finite_width_log10_grad_norm_sd": (
        "the standard deviation over samples of a sample's log10 |dl/dh_l| about that prediction (the "
        "per-layer variances v added from layer L): draw mean +- 2 sd as the finite-width band."
    ),
    "finite_width_log10_rate": "finite_width_log10_grad_norm's decades per layer from layer L to layer 1.",
}

STABLE_DECADES = 1.0

RECURRENT_QUANTITIES: dict[str, str] = {
    "log10_grad_norm": (
        "mean over the batch of log10 |dl_b/dh_t^(b)|, the per-sample gradient norm with respect to the "
        "hidden state h_t (t = 0 is the initial state), all paths through later steps included. Computed "
        "in log space: exact far below the float range."
    ),
    "log10_grad_norm_rms": "log10 of the root-mean-square over the batch of the same norms.",
    "log10_cell_grad_norm": (
        "LSTM only (NaN otherwise): mean over the batch of log10 |dl_b/dc_t^(b)|, the gradient with respect "
        "to the cell state through every path (the cell-state path and through h_t = o * tanh(c_t))."
    ),
    "q": "mean over batch and units of h_t^2 (the forward second moment of the hidden state).",
    "saturated_fraction": (
        "fraction of units with |derivative| < 1e-3: of phi at the pre-activation (rnn), or of every gate "
        "nonlinearity (lstm: i, f, g, o; gru: r, z, n)."
    ),
    "first_nonfinite_step": (
        "first step where the forward pass (h_t) holds inf/NaN; if the forward pass is finite, the first "
        "step reached by the backward pass (from T down) whose gradient is inf/NaN; -1 when everything "
        "stayed finite."
    ),
    "nonfinite_kind": QUANTITIES["nonfinite_kind"],
    "total_log10_ratio": "log10_grad_norm at step 0 minus at step T (negative: vanishing).",
    "log10_rate": (
        "least-squares decades per step by which log10_grad_norm changes going back in time "
        "(negative: vanishing); comparable to predicted_log10_rate."
    ),
    "time_scale": "1 / |2 ln(10) log10_rate|: steps over which the squared gradient norm changes by e.",
    "memory_horizon": (
        "steps over which the gradient norm falls by 1 decade going back in time at the fitted rate: "
        "1 / -log10_rate where it decays, inf where it does not. How far back the loss still reaches."
    ),
    "regime": (
        "'nonfinite' when first_nonfinite_step >= 0; otherwise 'vanishing' / 'exploding' when "
        "total_log10_ratio is below -1 / above +1 decade, else 'stable'."
    ),
    "chi1": (
        "vanilla RNN with random W_hh: the mean-field sigma_w^2 E[phi'(sqrt(q*) z)^2], the length map "
        "taking sigma_b^2 + sigma_u^2 as its bias variance and treating W_hh as fresh each step; NaN for "
        "LSTM, GRU and the identity init."
    ),
    "predicted_log10_rate": "log10(chi1) / 2: mean-field decades per step (NaN where chi1 is).",
}

TRANSFORMER_QUANTITIES: dict[str, str] = {
    "log10_grad_norm": (
        "mean over the batch of log10 |dl_b/dx_p^(b)|, the per-sample gradient norm with respect to the "
        "residual stream x_p after sublayer p (all T x d values; p = 0 is the input), every path included. "
        "Computed in log space: exact far below the float range."
    ),
    "log10_grad_norm_rms": "log10 of the root-mean-square over the batch of the same norms.",
    "log10_weight_grad_norm": (
        "log10 |dl/dW|_F of the batch-mean loss for each projection of sublayer p (query, key, value and "
        "attn_out for attention; mlp_in and mlp_out for the MLP; NaN for those it lacks and at p = 0)."
    ),
    "q": "mean over samples, tokens and units of x_p^2 (the forward second moment of the stream).",
    "token_cosine": (
        "mean over samples and pairs of distinct tokens of the cosine similarity of their x_p: 1 when "
        "every token carries the same direction (rank collapse), about 0 for independent tokens."
    ),
    "attention_entropy": (
        "mean over samples, heads and query tokens of the entropy (nats) of the attention row at "
        "attention sublayer p (ln T: uniform attention); NaN at MLP sublayers and the input."
    ),
    "first_nonfinite_sublayer": (
        "first sublayer whose output x_p holds inf/NaN; if the forward pass is finite, the first position "
        "reached by the backward pass (from P down) whose gradient is inf/NaN; -1 when everything stayed finite."
    ),
    "nonfinite_kind": QUANTITIES["nonfinite_kind"],
    "total_log10_ratio": "log10_grad_norm at the input (p = 0) minus at x_P (negative: vanishing).",
    "log10_rate": (
        "least-squares decades per sublayer by which log10_grad_norm changes going from the output "
        "towards the input (negative: vanishing)."
    ),
    "depth_scale": "1 / |2 ln(10) log10_rate|: sublayers over which the squared gradient norm changes by e.",
    "final_token_cosine": "token_cosine at the last sublayer: how collapsed the output's tokens are.",
    "regime": (
        "'nonfinite' when first_nonfinite_sublayer >= 0; otherwise 'vanishing' / 'exploding' when "
        "total_log10_ratio is below -1 / above +1 decade, else 'stable'."
    ),
}

TRAINING_QUANTITIES: dict[str, str] = {
    "task": (
        "teacher-student regression: x ~ N(0, q0) fresh each step (stream 'training'), y = T x with "
        "T = Z_T / sqrt(n_0) fixed, loss L = (1/B) sum_b 1/2 |a_L^(b) - y^(b)|^2"
    ),
    "loss": "the batch loss L before the step's update.",
    "log10_global_grad_norm": (
        "log10 of the norm of the gradient over all weights and biases, before clipping (what "
        "torch.nn.utils.clip_grad_norm_ compares with max_norm), exact in log space."
    ),
    "clipped": "whether clipping changed the gradient at this step.",
    "log10_grad_norm": "log10 |dL/dW_l|_F before clipping, exact in log space.",
    "update_ratio": (
        "|Delta W_l|_F / |W_l|_F: the relative change of layer l's weights made by this step (W_l before "
        "the update). Orders of magnitude below the last layers' in the first layers: those barely learn."
    ),
    "first_nonfinite_step": "the step whose loss was inf/NaN (training stopped there); -1 when it stayed finite.",
    "activation_size": "coordinate check: mean |a_l| over the probe batch's samples and units, after `step` updates.",
    "preactivation_size": "coordinate check: mean |h_l| over the probe batch's samples and units.",
    "update_size": (
        "coordinate check: mean |a_l - a_l at initialization| on the probe batch: how far `step` updates "
        "moved each coordinate (muP keeps it flat across widths)."
    ),
}
